// Fuzzes the query parser and the lax table: any bytes as a query string,
// under options chosen by the first byte, against a schema that touches
// every kind. Properties: nothing crashes or throws; a refusal has a code;
// an accepted query gives a value that serializes (valid UTF-8) and that
// passes the same schema again by the strict table's rules for its types.
#include "portcullis/query_string.hpp"
#include "portcullis/schema.hpp"

#include <cstdint>
#include <cstdlib>

namespace {

using portcullis::schema;

const schema& target() {
  static const schema s = schema::object({
      {"page", schema::integer().min(1).default_value(1)},
      {"limit", schema::int32().min(1).max(100).optional()},
      {"q", schema::string().trim().max(50).optional()},
      {"active", schema::boolean().optional()},
      {"ratio", schema::number().gt(0).nullable().optional()},
      {"ids", schema::array(schema::uint32()).max(20).unique().optional()},
      {"pair", schema::tuple({schema::string(), schema::integer()}).optional()},
      {"user", schema::object({{"name", schema::string().min(1)},
                               {"email", schema::string().email().optional()}})
                   .optional()},
      {"tags", schema::record(schema::string().max(8), schema::string()).optional()},
      {"sort",
       schema::union_of({schema::enumeration({"asc", "desc"}), schema::integer()}).optional()},
      {"site", schema::string().url().optional()},
  });
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  portcullis::query_options o;
  o.plus_as_space = (data[0] & 1) != 0;
  o.duplicates = static_cast<portcullis::duplicate_keys>((data[0] >> 1) % 3);
  o.max_depth = (data[0] >> 3) % 8;
  o.max_parameters = 64;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  auto parsed = portcullis::parse_query(text, o);
  if (!parsed.ok()) {
    if (parsed.error->code.empty() || parsed.error->field.size() > 64) std::abort();
    return 0;
  }
  if (parsed.params.size() > o.max_parameters) std::abort();

  auto r = target().validate_query(parsed.params, o, 50);
  if (r.issues.size() > 50) std::abort();
  (void)r.details().dump();  // throws on invalid UTF-8
  if (r.ok()) {
    (void)r.value.dump();
    // What the lax table produced must satisfy the schema as JSON.
    auto again = target().validate(r.value);
    if (!again.ok() || again.value != r.value) std::abort();
  }
  return 0;
}
