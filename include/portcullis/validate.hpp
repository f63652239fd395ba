// portcullis/validate.hpp — the middleware that validates bodies and queries.
//
// `validate` checks a request's JSON (or form) body and its query string
// against schemas (schema.hpp) before the handler runs. The handler then
// reads the validated, transformed values from `ctx.body` and `ctx.query`;
// the raw body is cleared, so a handler behind a body schema cannot read
// what was not validated:
//
//     using portcullis::schema;
//     auto users = std::make_shared<portcullis::validate>(portcullis::validate_options{
//         .name = "create_user",
//         .body = schema::object({{"email", schema::string().email().max(255)},
//                                 {"password", schema::string().min(12).max(128)}}),
//     });
//     b.route(http::verb::post, "/users", create_user, {.middleware = {users}});
//
// What a client gets back:
// - a body schema and a `Content-Type` that is not JSON (`application/json`
//   or `application/*+json`, charset UTF-8 if one is named) — or, with
//   `accept_form`, not `application/x-www-form-urlencoded` — 415;
// - invalid JSON, a repeated key, nesting past `json.max_depth`, more than
//   `json.max_values` values: 400 `{"error":"Invalid JSON","details":[{...,
//   "line":1,"column":10}]}`;
// - a query string (or form) the parser refuses (query_string.hpp): 400
//   `{"error":"Invalid query string","details":[...]}`;
// - a value that fails its schema: 400 `{"error":"Validation failed",
//   "details":[{"field":"items.2.qty","code":"too_small","message":"...",
//   "minimum":1,"inclusive":true,"origin":"number"}]}` with every issue
//   (body and query together) up to `max_issues`.
// Errors follow the chain's error format (JSON or problem+json).
#pragma once

#include "portcullis/counters.hpp"
#include "portcullis/json_body.hpp"
#include "portcullis/middleware.hpp"
#include "portcullis/query_string.hpp"
#include "portcullis/schema.hpp"

#include <optional>
#include <string>

namespace portcullis {

struct validate_options {
  /// The instance name in counters ("create_user").
  std::string name = "default";
  /// The schema of the body. When set, every request through this
  /// middleware must carry a body of the accepted type.
  std::optional<schema> body;
  /// The schema of the query string: an object or record schema. When
  /// set, an empty query is validated as an empty object (defaults apply).
  std::optional<schema> query;
  /// Limits of the JSON parser.
  json_limits json = {};
  /// Limits and rules of the query and form parser.
  query_options query_limits = {};
  /// Also accept `application/x-www-form-urlencoded` bodies, validated by
  /// the lax table like a query string. Needs `body`.
  bool accept_form = false;
  /// The most issues reported in one response. Default 100.
  std::size_t max_issues = 100;
};

/// Validates the body and the query string of each request.
///
/// Counters (`portcullis_validate_<name>_total{name="<instance>"}`):
/// `passed`, `invalid_body` (schema issues in the body), `invalid_query`
/// (schema issues in the query), `malformed_json`, `malformed_query`
/// (the parser refused the query or form), `unsupported_media_type`.
class validate final : public middleware {
 public:
  /// Throws config_error when neither schema is given, when the query
  /// schema is not an object or record, when `accept_form` is set without
  /// a body schema, or when a limit is zero.
  explicit validate(validate_options options);

  asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const override;

  const counter_set* counters() const noexcept override { return &counters_; }

  enum counter : std::size_t {
    passed,
    invalid_body,
    invalid_query,
    malformed_json,
    malformed_query,
    unsupported_media_type,
  };

 private:
  // The whole check: a refusal, or nothing once ctx holds the values.
  std::optional<response> check(request& req, context& ctx) const;

  validate_options options_;
  mutable counter_set counters_;
};

}  // namespace portcullis
