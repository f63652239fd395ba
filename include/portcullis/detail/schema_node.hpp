// portcullis/detail/schema_node.hpp — the description a `schema` shares.
// Private to the library: the fields may change between versions.
#pragma once

#include "portcullis/schema.hpp"

#include "portcullis/detail/class_sequence.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace re2 {
class RE2;
}

namespace portcullis::detail {

enum class schema_kind : std::uint8_t {
  any,
  string,
  number,
  integer,
  boolean,
  null,
  enumeration,
  literal,
  array,
  tuple,
  object,
  record,
  union_of,
};

enum class string_format : std::uint8_t { none, email, url, uuid };
enum class int_target : std::uint8_t { i64, i32, u32, u64 };
enum class case_map : std::uint8_t { none, lower, upper };

struct refinement {
  std::function<bool(const nlohmann::json&)> check;
  std::string message;
};

using node_ptr = std::shared_ptr<const struct schema_node>;

struct field {
  std::string key;
  node_ptr schema;
};

struct schema_node {
  schema_kind kind = schema_kind::any;

  // Modifiers, for every kind.
  bool optional = false;
  bool nullable = false;
  bool coerce = false;
  std::optional<nlohmann::json> default_value;
  std::function<nlohmann::json()> default_fn;
  std::vector<refinement> refinements;
  /// Nesting of this schema (1 for a leaf); capped when built.
  std::size_t depth = 1;

  // Strings (code points) and arrays (elements): length bounds.
  std::optional<std::size_t> min_length;
  std::optional<std::size_t> max_length;

  // Strings.
  string_format format = string_format::none;
  std::vector<std::string> url_schemes;
  std::shared_ptr<const re2::RE2> pattern;
  std::string pattern_source;
  /// The same pattern as a class sequence, when it is one: matched without
  /// RE2, with the same result.
  std::shared_ptr<const class_sequence> pattern_sequence;
  std::optional<std::string> prefix;
  std::optional<std::string> suffix;
  bool trim = false;
  case_map casing = case_map::none;

  // Numbers and integers.
  std::optional<double> minimum;
  std::optional<double> maximum;
  bool min_exclusive = false;
  bool max_exclusive = false;
  std::optional<double> divisor;
  int_target target = int_target::i64;

  // Arrays and tuples.
  node_ptr element;  // array element, tuple rest
  std::vector<node_ptr> items;
  bool unique = false;

  // Objects (fields sorted by key, as nlohmann::json sorts its keys).
  std::vector<field> fields;
  portcullis::unknown_keys unknown = portcullis::unknown_keys::strip;

  // Records.
  node_ptr key_schema;  // may be null: any string

  // Unions.
  std::vector<node_ptr> options;
  std::string discriminator;
  /// For a discriminated union: each tag value and the option it selects.
  std::vector<std::pair<nlohmann::json, std::size_t>> tags;

  // Enumerations and literals.
  std::vector<nlohmann::json> values;
};

/// Validates `value` in place against `node` by the strict table.
std::vector<issue> check_value(const schema_node& node, nlohmann::json& value,
                               std::size_t max_issues);

/// The word for a kind ("string", "int", "object" …), as in issues.
std::string_view kind_word(const schema_node& node) noexcept;

/// The deepest schema accepted (each object, array, union … adds one).
inline constexpr std::size_t max_schema_depth = 64;

}  // namespace portcullis::detail
