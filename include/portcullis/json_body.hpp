// portcullis/json_body.hpp — parsing untrusted JSON with limits.
//
// nlohmann::json's own parse() keeps the last of two equal keys without a
// word, and builds trees of any depth. A request body is parsed here
// instead, by a strict RFC 8259 reader of our own (no comments, no NaN, no
// trailing commas) that builds the same nlohmann::json values and refuses:
//
// - a repeated key in one object (`{"a":1,"a":2}`): a proxy or a second
//   parser that keeps the first value would see a different request;
// - nesting deeper than `max_depth` (refused while reading, so that 100 000
//   opening brackets cost no stack and no memory);
// - more than `max_values` values in all (a bound on the tree's size);
// - invalid JSON, invalid UTF-8 and lone surrogates in `\u` escapes, with
//   the line and column (in bytes, from 1) where the text broke.
//
//     portcullis::json_parse_result r = portcullis::parse_json(body);
//     if (!r.ok()) return bad_request(r.error->message);  // "...line 1, column 10"
//
// Numbers too large for a double (`1e400`) are invalid JSON here. Integers
// beyond uint64 become doubles, as in nlohmann::json; an integer schema
// then refuses them as inexact.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis {

struct json_limits {
  /// The deepest nesting of arrays and objects. Default 64.
  std::size_t max_depth = 64;
  /// The most values (scalars, arrays and objects, keys not counted).
  /// Default 10 000.
  std::size_t max_values = 10000;
};

/// Why a JSON text was refused.
struct json_error {
  /// `invalid_json`, `duplicate` (a repeated key), `too_deep` or `too_big`
  /// (more than max_values).
  std::string_view code;
  /// A sentence without parser internals or more than 64 bytes of input.
  std::string message;
  /// Where, as a path (`duplicate`, `too_deep`, `too_big`), else empty.
  std::string field;
  /// Line and column (bytes) of the failure, from 1; 0 when not a syntax
  /// error.
  std::size_t line = 0;
  std::size_t column = 0;
};

struct json_parse_result {
  nlohmann::json value;
  std::optional<json_error> error;
  bool ok() const noexcept { return !error.has_value(); }
};

/// Parses `text` as one JSON value with the limits above. Never throws on
/// any input.
json_parse_result parse_json(std::string_view text, const json_limits& limits = {});

}  // namespace portcullis
