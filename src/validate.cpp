// The validate middleware.
#include "portcullis/validate.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/detail/ready.hpp"
#include "portcullis/errc.hpp"

#include <algorithm>

namespace portcullis {

namespace {

using json = nlohmann::json;

enum class media { json, form, other };

using detail::iequals;
using detail::trim_ows;

// The media type of a Content-Type value (RFC 9110 §8.3.1): the type is
// case-insensitive; a charset parameter, when present, must be UTF-8 for
// JSON (RFC 8259 §8.1) and forms.
media classify(std::string_view content_type) {
  auto semi = content_type.find(';');
  std::string_view type = trim_ows(content_type.substr(0, semi));
  media m = media::other;
  if (iequals(type, "application/json")) {
    m = media::json;
  } else if (type.size() > 17 && iequals(type.substr(0, 12), "application/") &&
             iequals(type.substr(type.size() - 5), "+json")) {
    m = media::json;
  } else if (iequals(type, "application/x-www-form-urlencoded")) {
    m = media::form;
  }
  if (m == media::other || semi == std::string_view::npos) return m;

  std::string_view params = content_type.substr(semi + 1);
  while (!params.empty()) {
    auto next = params.find(';');
    std::string_view param = trim_ows(params.substr(0, next));
    params = next == std::string_view::npos ? std::string_view{} : params.substr(next + 1);
    auto eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    if (!iequals(trim_ows(param.substr(0, eq)), "charset")) continue;
    std::string_view value = trim_ows(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (!iequals(value, "utf-8") && !iequals(value, "utf8")) return media::other;
  }
  return m;
}

json one_detail(std::string_view field, std::string_view code, std::string_view message) {
  return json::array({{{"field", field}, {"code", code}, {"message", message}}});
}

void append_issues(json& details, const std::vector<issue>& issues, std::string_view where) {
  json part = issues_to_json(issues);
  for (auto& d : part) {
    d["in"] = where;
    details.push_back(std::move(d));
  }
}

}  // namespace

validate::validate(validate_options options)
    : options_(std::move(options)),
      counters_("validate", options_.name,
                {"passed", "invalid_body", "invalid_query", "malformed_json", "malformed_query",
                 "unsupported_media_type"}) {
  if (!options_.body && !options_.query)
    throw config_error(
        "validate: neither a body nor a query schema is set; set body, query or both");
  if (options_.query && !options_.query->is_object_like())
    throw config_error("validate: the query schema is " + std::string(options_.query->kind_name()) +
                       ", not an object or record; wrap the fields in schema::object()");
  if (options_.accept_form && !options_.body)
    throw config_error("validate: accept_form needs a body schema; set body");
  if (options_.accept_form && !options_.body->is_object_like())
    throw config_error(
        "validate: accept_form needs an object or record body schema; "
        "wrap the fields in schema::object()");
  if (options_.max_issues == 0) throw config_error("validate: max_issues is 0; give at least 1");
  if (options_.json.max_depth == 0 || options_.json.max_values == 0)
    throw config_error("validate: json.max_depth and json.max_values must be at least 1");
  const auto& q = options_.query_limits;
  if (q.max_parameters == 0 || q.max_key_length == 0 || q.max_value_length == 0)
    throw config_error(
        "validate: query_limits.max_parameters, max_key_length and "
        "max_value_length must be at least 1");
}

// No coroutine: the checks never wait, so a request that passes goes on
// without a frame of its own, and a refusal goes out in a frame that holds
// only the answer (detail/ready.hpp).
asio::awaitable<response> validate::handle(request& req, context& ctx, next_handler next) const {
  if (auto refusal = check(req, ctx)) return detail::ready(std::move(*refusal));
  return next(req, ctx);
}

std::optional<response> validate::check(request& req, context& ctx) const {
  json details = json::array();
  bool body_failed = false, query_failed = false;
  std::optional<json> body_value, query_value;

  // The body: JSON (strict table) or, when allowed, a form (lax table).
  if (options_.body) {
    media m = classify(req[http::field::content_type]);
    if (m == media::json) {
      auto parsed = parse_json(req.body(), options_.json);
      if (!parsed.ok()) {
        counters_.add(malformed_json);
        const auto& e = *parsed.error;
        json d = one_detail(e.field, e.code, e.message);
        if (e.line > 0) {
          d[0]["line"] = e.line;
          d[0]["column"] = e.column;
        }
        return ctx.error(req, http::status::bad_request, "Invalid JSON", &d);
      }
      auto r = options_.body->validate(std::move(parsed.value), options_.max_issues);
      if (r.ok())
        body_value = std::move(r.value);
      else {
        body_failed = true;
        append_issues(details, r.issues, "body");
      }
    } else if (m == media::form && options_.accept_form) {
      auto parsed = parse_query(req.body(), options_.query_limits);
      if (!parsed.ok()) {
        counters_.add(malformed_query);
        json d = one_detail(parsed.error->field, parsed.error->code, parsed.error->message);
        return ctx.error(req, http::status::bad_request, "Invalid form body", &d);
      }
      auto r =
          options_.body->validate_query(parsed.params, options_.query_limits, options_.max_issues);
      if (r.ok())
        body_value = std::move(r.value);
      else {
        body_failed = true;
        append_issues(details, r.issues, "body");
      }
    } else {
      counters_.add(unsupported_media_type);
      return ctx.error(req, http::status::unsupported_media_type,
                       options_.accept_form
                           ? "Unsupported Media Type: expected application/json or "
                             "application/x-www-form-urlencoded"
                           : "Unsupported Media Type: expected application/json");
    }
  }

  // The query string, always by the lax table.
  if (options_.query) {
    auto parsed = parse_query(ctx.raw_query, options_.query_limits);
    if (!parsed.ok()) {
      counters_.add(malformed_query);
      json d = one_detail(parsed.error->field, parsed.error->code, parsed.error->message);
      return ctx.error(req, http::status::bad_request, "Invalid query string", &d);
    }
    std::size_t room = options_.max_issues - std::min(options_.max_issues, details.size());
    auto r = options_.query->validate_query(parsed.params, options_.query_limits,
                                            std::max<std::size_t>(room, 1));
    if (r.ok())
      query_value = std::move(r.value);
    else {
      query_failed = true;
      if (room > 0) append_issues(details, r.issues, "query");
    }
  }

  if (body_failed || query_failed) {
    if (body_failed) counters_.add(invalid_body);
    if (query_failed) counters_.add(invalid_query);
    return ctx.error(req, http::status::bad_request, "Validation failed", &details);
  }

  // The handler sees the validated values, never the raw body.
  if (body_value) {
    ctx.body = std::move(body_value);
    req.body().clear();
  }
  if (query_value) ctx.query = std::move(query_value);
  counters_.add(passed);
  return std::nullopt;
}

}  // namespace portcullis
