// portcullis/schema.hpp — schemas for request data, in the manner of Zod.
//
// A schema says what a JSON body or a query string must hold. Validating
// returns the validated, transformed value (unknown keys stripped, strings
// trimmed, defaults filled in) or every issue found, each with a field
// path and a code from Zod 4's vocabulary:
//
//     using portcullis::schema;
//     schema user = schema::object({
//         {"email", schema::string().email().max(255)},
//         {"password", schema::string().min(12).max(128)},
//         {"name", schema::string().min(1).max(100).optional()},
//     });
//     auto r = user.validate(nlohmann::json::parse(body));
//     if (!r.ok()) return bad_request(r.details());   // [{"field":"email",...}]
//     use(r.value);
//
// Schemas are values: each fluent call returns a new schema and leaves the
// old one as it was, so a base schema can be refined in several ways.
// A schema that contradicts itself (min above max, a default that fails
// its own checks, an invalid regex) throws config_error when it is built,
// never when a request arrives. The same schemas load from a JSON
// description (`schema::from_json`, documented in docs/validation.md), so
// a config file can carry them.
//
// Two coercion regimes (both tables are in docs/validation.md):
// - JSON (`validate`): strict. A JSON string is not a number; `"true"` is
//   not a boolean. `coerce()` on a schema opts one field into the lax table.
// - Query strings and forms (`validate_query`): lax, since every value is
//   text. "12" is 12; "true"/"1"/"yes"/"on" and "false"/"0"/"no"/"off" are
//   booleans and nothing else is; "12abc", "1e400", "0x10", " 12", "" and
//   "1.5" (for an integer) are errors, never a best guess.
//
// Strings are measured in Unicode code points ("😀" has length 1), never
// in bytes or UTF-16 units. Integers must fit their target type exactly
// (int64 unless `int32()`, `uint32()` or `uint64()`); a JSON number with a
// fraction is not an integer, and one too large to be exact is `too_big`.
//
// Known shortcomings: schemas cannot refer to themselves (no recursive
// types); refinements cannot be loaded from a JSON description; number
// bounds are doubles, so integer bounds beyond ±2^53 are not exact.
#pragma once

#include "portcullis/query_string.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis {

namespace detail {
struct schema_node;
}

/// What an object does with keys its schema does not name.
enum class unknown_keys {
  /// Drop them from the output (the default).
  strip,
  /// Report them as one `unrecognized_keys` issue.
  strict,
  /// Keep them in the output unchecked.
  passthrough,
};

/// One problem with the input.
struct issue {
  /// Where: object keys and array indices joined by dots ("items.2.qty");
  /// empty for the value itself. Keys taken from the input are cut to 64
  /// bytes.
  std::string field;
  /// Zod 4's code: `invalid_type`, `too_small`, `too_big`,
  /// `invalid_format`, `not_multiple_of`, `unrecognized_keys`,
  /// `invalid_union`, `invalid_key`, `invalid_value`, `custom`; and
  /// `duplicate` for a repeated query key or a repeated element of a
  /// `unique()` array.
  std::string_view code;
  /// A sentence for people. It never quotes more than 64 bytes of input.
  std::string message;
  /// The bounds and facts of the code, as Zod 4 names them: `expected`,
  /// `received`, `origin`, `minimum`, `maximum`, `inclusive`, `format`,
  /// `pattern`, `divisor`, `keys`, `values`, `errors`. An object.
  nlohmann::json params;
};

/// The outcome of a validation.
struct validation_result {
  /// The validated, transformed value; meaningful only when ok().
  nlohmann::json value;
  /// Every issue found, up to the cap given to validate().
  std::vector<issue> issues;
  /// True when more issues existed than the cap let through.
  bool truncated = false;

  bool ok() const noexcept { return issues.empty(); }
  /// The issues as the `details` array of a 400 body:
  /// `[{"field":"email","code":"invalid_format","message":"...", ...}]`.
  nlohmann::json details() const;
};

/// The issues as a `details` array (see validation_result::details).
nlohmann::json issues_to_json(std::span<const issue> issues);

/// A schema. Cheap to copy (it shares its immutable description).
class schema {
 public:
  // -- Types ------------------------------------------------------------------
  /// Any value, unchecked.
  static schema any();
  static schema string();
  /// A finite number (JSON cannot carry NaN or Infinity; neither can a
  /// query string here).
  static schema number();
  /// An integer that fits int64 exactly.
  static schema integer();
  /// Integers that fit int32, uint32 or uint64 exactly.
  static schema int32();
  static schema uint32();
  static schema uint64();
  static schema boolean();
  static schema null();
  /// One of the given strings. Throws config_error when empty or repeated.
  static schema enumeration(std::vector<std::string> values);
  /// Exactly this value (a string, number, boolean or null).
  static schema literal(nlohmann::json value);
  /// An array whose every element matches `element`.
  static schema array(schema element);
  /// An array of exactly these elements in order (more with `rest()`).
  static schema tuple(std::vector<schema> items);
  /// An object with these fields; unknown keys are stripped unless
  /// strict() or passthrough(). Throws config_error on a repeated key.
  static schema object(std::vector<std::pair<std::string, schema>> fields);
  /// An object whose keys all match `keys` (a string schema) and whose
  /// values all match `values`.
  static schema record(schema values);
  static schema record(schema keys, schema values);
  /// The first of `options` that matches. Throws config_error when empty.
  static schema union_of(std::vector<schema> options);
  /// Objects told apart by the literal (or enumeration) value of `key`.
  /// Throws config_error unless every option is an object whose `key` is
  /// a required literal or enumeration, and no value names two options.
  static schema discriminated_union(std::string key, std::vector<schema> options);

  /// A schema from its JSON description (docs/validation.md). Throws
  /// config_error naming the place in the description that is wrong.
  static schema from_json(const nlohmann::json& description);

  // -- Strings (code points), arrays (elements), numbers (value) ------------
  /// Inclusive lower bound: length of a string or array, value of a number.
  schema min(double bound) const;
  /// Inclusive upper bound: length of a string or array, value of a number.
  schema max(double bound) const;
  /// Exact length of a string or array.
  schema length(std::size_t n) const;
  /// Exclusive bounds of a number.
  schema gt(double bound) const;
  schema lt(double bound) const;
  /// A number that is a whole multiple of `divisor` (> 0). For non-integer
  /// numbers the quotient must be within 1e-9 of a whole number.
  schema multiple_of(double divisor) const;
  /// Accept only positive (> 0) or non-negative (>= 0) numbers.
  schema positive() const { return gt(0); }
  schema nonnegative() const { return min(0); }

  // -- String formats and transforms -----------------------------------------
  /// The whole string must match `pattern` (RE2 syntax, always anchored at
  /// both ends: "[a-z]+" never matches "ab1"). Throws config_error when
  /// RE2 cannot compile it.
  schema regex(std::string_view pattern) const;
  /// A mailbox like "name@example.com": a dot-atom local part (letters,
  /// digits, ! # $ % & ' * + - / = ? ^ _ ` { | } ~) and a DNS host name
  /// with a top-level label of at least two letters. No quoted local parts,
  /// no IP literals, no comments: what sign-up forms accept.
  schema email() const;
  /// An absolute URL (RFC 3986, Boost.URL) with a host, whose scheme is in
  /// `schemes` (compared case-insensitively). Default http and https.
  schema url(std::vector<std::string> schemes = {"http", "https"}) const;
  /// An RFC 9562 UUID in its 36-character text form (any version, the
  /// RFC variant; the nil and max UUIDs too), either case.
  schema uuid() const;
  schema starts_with(std::string prefix) const;
  schema ends_with(std::string suffix) const;
  /// Remove leading and trailing white space (Unicode White_Space) before
  /// the checks run.
  schema trim() const;
  /// Lower- or upper-case the string (Unicode simple case mapping) before
  /// the checks run.
  schema to_lower() const;
  schema to_upper() const;

  // -- Arrays -----------------------------------------------------------------
  /// At least one element.
  schema nonempty() const { return min(1); }
  /// No two elements equal (as JSON values); a repeat is a `duplicate`
  /// issue at its index.
  schema unique() const;
  /// Further tuple elements after the fixed ones must match `element`.
  schema rest(schema element) const;

  // -- Objects ----------------------------------------------------------------
  schema strict() const;
  schema passthrough() const;
  schema strip() const;

  // -- Modifiers ----------------------------------------------------------------
  /// The key may be absent (it then stays absent in the output).
  schema optional() const;
  /// null is accepted as well.
  schema nullable() const;
  /// Used when the key is absent. Throws config_error when the value
  /// fails this schema's own checks (also when checks are added after it).
  schema default_value(nlohmann::json value) const;
  /// Computed when the key is absent (a timestamp, a fresh id). The
  /// computed value is validated against this schema each time.
  schema default_with(std::function<nlohmann::json()> make) const;
  /// After the other checks pass, `check` must return true, or a `custom`
  /// issue with `message` is reported. `check` must be thread-safe.
  schema refine(std::function<bool(const nlohmann::json&)> check, std::string message) const;
  /// In JSON, also accept a string and convert it by the lax table (for
  /// numbers, integers, booleans; strings stay strings).
  schema coerce() const;

  // -- Validation ---------------------------------------------------------------
  /// Validates a JSON value by the strict table; collects up to
  /// `max_issues` issues (then stops, with `truncated`).
  validation_result validate(nlohmann::json value, std::size_t max_issues = 100) const;
  /// The same, transforming `value` in place; returns the issues. On
  /// failure `value` is left partly transformed.
  std::vector<issue> validate_in_place(nlohmann::json& value, std::size_t max_issues = 100) const;
  /// Validates parsed query or form parameters by the lax table. The
  /// schema must be an object or a record (else config_error).
  /// `options.duplicates` decides repeated scalar keys; `max_array_index`
  /// caps `ids[N]` for arrays without a maximum.
  validation_result validate_query(const query_params& params, const query_options& options = {},
                                   std::size_t max_issues = 100) const;

  /// The kind of schema, as a word ("string", "object", "union" …).
  std::string_view kind_name() const noexcept;
  /// True for an object or record schema (what a query can be).
  bool is_object_like() const noexcept;

  const detail::schema_node& node() const noexcept { return *node_; }

 private:
  explicit schema(std::shared_ptr<const detail::schema_node> node) : node_(std::move(node)) {}
  template <class F>
  schema with(F&& change) const;
  std::shared_ptr<const detail::schema_node> node_;
};

}  // namespace portcullis
