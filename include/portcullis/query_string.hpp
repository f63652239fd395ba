// portcullis/query_string.hpp — a bounded parser for query strings and
// `application/x-www-form-urlencoded` bodies.
//
// The parser turns `a=1&ids[]=2&ids[]=3&user[name]=x` into a tree of keys
// and the texts given to them, and refuses what a hostile client may send
// instead of guessing:
//
//     portcullis::query_parse_result r = portcullis::parse_query("page=2&limit=50");
//     if (!r.ok()) return bad_request(r.error->message);
//     const auto* page = r.params.root().find("page");   // values == {"2"}
//
// What it decides, and why:
// - Past `max_parameters` pairs it fails (`too_many_parameters`); it never
//   keeps the first N and drops the rest silently.
// - A key longer than `max_key_length` or a value longer than
//   `max_value_length` (both counted as sent, before decoding) fails.
// - A key is a name followed by bracket segments: `a`, `a[b][c]`, `a[]`.
//   More segments than `max_depth` fail (`too_deep`); they never become a
//   literal key. A malformed key (`a[b`, `a[b]c`, `[a]`, `a[][b]`) fails.
//   Brackets are read before percent-decoding, so `%5B` is a literal `[`.
// - Invalid percent-encoding (`%ZZ`, `%4`) and decoded text that is not
//   UTF-8 fail (`invalid_encoding`). `+` is a space when `plus_as_space`
//   (always, for queries and forms: WHATWG URL, application/x-www-form-
//   urlencoded parsing).
// - Repeated keys keep every value in order; whether that is an array or a
//   `duplicate` error is for the schema to decide (see schema.hpp).
// - Keys such as `__proto__` or `constructor` are plain data.
// - Empty pairs (`a=1&&b=2`) and pairs with an empty name (`=1`) are
//   skipped; a name without `=` has the empty value.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

/// What to do when a scalar field is given more than once (`a=1&a=2`).
enum class duplicate_keys {
  /// A `duplicate` issue (the default): a proxy that reads the first value
  /// and an application that reads the last disagree, which is an attack.
  reject,
  /// Keep the first value.
  first,
  /// Keep the last value.
  last,
};

/// Limits and rules of the parser.
struct query_options {
  /// The most `key=value` pairs; one more is an error. Default 1 000.
  std::size_t max_parameters = 1000;
  /// The longest key, in bytes as sent. Default 256.
  std::size_t max_key_length = 256;
  /// The longest value, in bytes as sent. Default 8 192.
  std::size_t max_value_length = 8192;
  /// The most bracket segments in one key (`a[b][c]` has 2). Default 5.
  std::size_t max_depth = 5;
  /// The largest array index accepted in `ids[N]` when the schema gives
  /// the array no maximum of its own. Default 1 000.
  std::size_t max_array_index = 1000;
  /// Whether `+` decodes to a space. True for queries and forms.
  bool plus_as_space = true;
  /// How repeated scalar keys are handled by the schema (see schema.hpp).
  portcullis::duplicate_keys duplicates = portcullis::duplicate_keys::reject;
};

/// The parsed pairs as a tree. A node holds the values given to its key
/// directly (`a=1&a=2`, `a[]=1`) and the nodes of its bracket segments
/// (`a[b]=1`, `a[0]=1`).
class query_params {
 public:
  struct node {
    /// The decoded values given to this key, in the order they were sent.
    std::vector<std::string> values;
    /// The bracket segments below this key, by decoded name.
    std::map<std::string, std::unique_ptr<node>, std::less<>> children;

    /// The child named `name`, or null.
    const node* find(std::string_view name) const noexcept;
  };

  query_params() : root_(std::make_unique<node>()) {}

  /// The top-level keys.
  const node& root() const noexcept { return *root_; }
  node& root() noexcept { return *root_; }
  /// How many pairs were read.
  std::size_t size() const noexcept { return size_; }

 private:
  friend struct query_parser;
  std::unique_ptr<node> root_;
  std::size_t size_ = 0;
};

/// Why a query string was refused. `code` is one of `too_many_parameters`,
/// `too_long`, `too_deep`, `invalid_key`, `invalid_encoding`; `field` is
/// the decoded name of the key at fault (cut to 64 bytes), or empty.
struct query_error {
  std::string field;
  std::string_view code;
  std::string message;
};

struct query_parse_result {
  query_params params;
  std::optional<query_error> error;
  bool ok() const noexcept { return !error.has_value(); }
};

/// Parses a query string (without the leading '?') or a form body.
/// Never throws on any input; a refusal is in `error`.
query_parse_result parse_query(std::string_view text, const query_options& options = {});

/// Decodes one percent-encoded component (`+` as space when asked).
/// Returns nothing on invalid percent-encoding or when the result is not
/// valid UTF-8.
std::optional<std::string> percent_decode(std::string_view text, bool plus_as_space);

}  // namespace portcullis
