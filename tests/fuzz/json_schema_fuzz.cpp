// Fuzzes the bounded JSON parser and schema validation of JSON. Properties:
// nothing crashes or throws; the parser agrees with nlohmann::json::parse
// (same value when it accepts; when it refuses a syntax error, nlohmann
// refuses too), except that a text with a NUL byte is never JSON; validation
// output serializes and validates again to itself.
#include "portcullis/json_body.hpp"
#include "portcullis/schema.hpp"

#include <cstdint>
#include <cstdlib>

namespace {

using portcullis::schema;
using json = nlohmann::json;

const schema& target() {
  static const schema item = schema::object({
      {"sku", schema::string().regex("[A-Z]{3}-[0-9]{1,6}")},
      {"qty", schema::integer().min(1).max(1000)},
      {"price", schema::number().nonnegative().multiple_of(0.01).optional()},
  });
  static const schema s = schema::object({
      {"email", schema::string().trim().email().max(255)},
      {"password", schema::string().min(12).max(128)},
      {"name", schema::string().min(1).max(100).optional()},
      {"website", schema::union_of({schema::string().url(), schema::literal("")}).optional()},
      {"id", schema::string().uuid().optional()},
      {"items", schema::array(item).max(50).optional()},
      {"tags", schema::array(schema::string()).unique().optional()},
      {"meta", schema::record(schema::any()).optional()},
      {"point", schema::tuple({schema::number(), schema::number()}).optional()},
      {"shape", schema::discriminated_union(
                    "kind", {schema::object({{"kind", schema::literal("circle")},
                                             {"r", schema::number().positive()}}),
                             schema::object({{"kind", schema::literal("square")},
                                             {"side", schema::number().positive()}})})
                    .optional()},
      {"role", schema::enumeration({"user", "admin"}).default_value("user")},
      {"flags", schema::object({{"beta", schema::boolean()}}).strict().nullable().optional()},
  });
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = portcullis::parse_json(text, {.max_depth = 32, .max_values = 5000});

  // nlohmann::json::parse takes a NUL byte as the end of its input, so it
  // reads "7\0junk" as 7. RFC 8259 allows no NUL anywhere in a JSON text
  // (not as whitespace, not raw in a string), so a text holding one is
  // refused here whatever the reference says.
  json reference;
  bool reference_ok = text.find('\0') == std::string_view::npos;
  try {
    if (reference_ok) reference = json::parse(text);
  } catch (const json::exception&) {
    reference_ok = false;
  }
  if (parsed.ok()) {
    if (!reference_ok || reference != parsed.value) std::abort();
  } else if (parsed.error->code == "invalid_json" && reference_ok) {
    std::abort();
  }
  if (!parsed.ok()) return 0;

  auto r = target().validate(parsed.value, 50);
  if (r.issues.size() > 50) std::abort();
  (void)r.details().dump();
  if (r.ok()) {
    (void)r.value.dump();
    auto again = target().validate(r.value);
    if (!again.ok() || again.value != r.value) std::abort();
  }
  return 0;
}
