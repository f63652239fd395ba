#include "portcullis/api_key_routes.hpp"

#include "portcullis/errc.hpp"
#include "portcullis/json_body.hpp"
#include "portcullis/timeout.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace portcullis {
namespace {

using nlohmann::json;

std::int64_t unix_seconds(wall_time t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

json optional_time(const std::optional<wall_time>& t) {
  return t ? json(unix_seconds(*t)) : json(nullptr);
}

json describe(const api_key_record& r) {
  return {{"id", r.id},
          {"name", r.name},
          {"display", r.display},
          {"tier", r.tier},
          {"scopes", r.scopes},
          {"created_at", unix_seconds(r.created)},
          {"expires_at", optional_time(r.expires)},
          {"last_used_at", optional_time(r.last_used)},
          {"revoked_at", optional_time(r.revoked)},
          {"max_uses", r.max_uses ? json(*r.max_uses) : json(nullptr)},
          {"uses", r.uses}};
}

struct state {
  api_key_routes_options o;

  // Only a session may manage keys: a stolen API key must not mint more.
  std::optional<response> refuse_unless_session(const request& req, const context& ctx) const {
    if (ctx.who.via == identity::method::session && !ctx.who.subject.empty()) return std::nullopt;
    auto res = ctx.error(req, http::status::unauthorized, "sign in to manage API keys");
    res.set(http::field::www_authenticate, "Bearer realm=\"api\"");
    return res;
  }

  response unavailable(const request& req, const context& ctx) const {
    auto res = ctx.error(req, http::status::service_unavailable, "key store unavailable");
    res.set(http::field::retry_after, "1");
    return res;
  }

  clock::duration timeout() const { return o.auth->options().store_timeout; }
  const clock& clk() const {
    return o.auth->options().time ? *o.auth->options().time : system_clock();
  }
};

asio::awaitable<response> create_key(std::shared_ptr<const state> s, request& req, context& ctx) {
  if (auto r = s->refuse_unless_session(req, ctx)) co_return *r;

  // What was asked for: every member optional, each of the right type.
  // The strict parser every client body goes through (no NUL, no repeated
  // key, bounded depth), not nlohmann's, which stops at a NUL byte.
  auto parsed = parse_json(req.body().empty() ? std::string_view("{}") : req.body());
  if (!parsed.ok() || !parsed.value.is_object())
    co_return ctx.error(req, http::status::bad_request, "the body must be a JSON object");
  const json body = std::move(parsed.value);
  const auto now = s->clk().wall_now();
  new_api_key spec;
  spec.owner = ctx.who.subject;
  spec.tier = s->o.tier_of ? s->o.tier_of(ctx) : "default";
  for (const auto& [k, v] : body.items()) {
    if (k == "name" && v.is_string()) {
      spec.name = v.get<std::string>();
    } else if (k == "scopes" && v.is_array()) {
      for (const auto& sc : v) {
        if (!sc.is_string())
          co_return ctx.error(req, http::status::bad_request, "scopes must be strings");
        auto name = sc.get<std::string>();
        if (std::find(s->o.grantable_scopes.begin(), s->o.grantable_scopes.end(), name) ==
            s->o.grantable_scopes.end())
          co_return ctx.error(req, http::status::bad_request, "a scope is not grantable");
        spec.scopes.push_back(std::move(name));
      }
    } else if (k == "expires_in" && v.is_number_unsigned()) {
      auto secs = v.get<std::uint64_t>();
      if (secs == 0 || secs > 100ull * 365 * 86400 ||
          (s->o.max_lifetime.count() > 0 &&
           secs > static_cast<std::uint64_t>(s->o.max_lifetime.count())))
        co_return ctx.error(req, http::status::bad_request, "expires_in is out of range");
      spec.expires = now + std::chrono::seconds(secs);
    } else if (k == "max_uses" && v.is_number_unsigned()) {
      spec.max_uses = v.get<std::uint64_t>();
    } else {
      co_return ctx.error(req, http::status::bad_request,
                          "unknown member or wrong type; expected name, scopes, expires_in, "
                          "max_uses");
    }
  }
  if (!spec.expires && s->o.max_lifetime.count() > 0) spec.expires = now + s->o.max_lifetime;
  if (auto problem = check_new_api_key(spec, now); !problem.empty())
    co_return ctx.error(req, http::status::bad_request, problem);

  // Within the owner's allowance, then stored.
  std::optional<issued_api_key> issued;
  bool too_many = false, failed = false;
  try {
    auto existing = co_await with_deadline(s->o.store->list(spec.owner, 100'000), s->timeout(),
                                           make_error_code(errc::store_timeout));
    auto live =
        std::count_if(existing.begin(), existing.end(), [&](const auto& r) { return !r.revoked; });
    too_many = static_cast<std::size_t>(live) >= s->o.max_keys_per_owner;
    if (!too_many) {
      const auto& ao = s->o.auth->options();
      issued = make_api_key(spec, ao.format, ao.hasher, now);
      co_await with_deadline(s->o.store->create(issued->record), s->timeout(),
                             make_error_code(errc::store_timeout));
    }
  } catch (const std::system_error&) {
    failed = true;
  }
  if (failed) co_return s->unavailable(req, ctx);
  if (too_many)
    co_return ctx.error(req, http::status::conflict, "too many API keys; revoke one first");

  json out = describe(issued->record);
  out["key"] = issued->key;
  auto res = json_response(req, http::status::created, out.dump());
  res.set(http::field::cache_control, "no-store");
  res.set(http::field::location, s->o.path + "/" + issued->record.id);
  co_return res;
}

asio::awaitable<response> list_keys(std::shared_ptr<const state> s, request& req, context& ctx) {
  if (auto r = s->refuse_unless_session(req, ctx)) co_return *r;
  std::optional<std::vector<api_key_record>> records;
  try {
    records = co_await with_deadline(s->o.store->list(ctx.who.subject, 1000), s->timeout(),
                                     make_error_code(errc::store_timeout));
  } catch (const std::system_error&) {
  }
  if (!records) co_return s->unavailable(req, ctx);
  json keys = json::array();
  for (const auto& r : *records) keys.push_back(describe(r));
  auto res = json_response(req, http::status::ok, json{{"keys", keys}}.dump());
  res.set(http::field::cache_control, "no-store");
  co_return res;
}

asio::awaitable<response> revoke_key(std::shared_ptr<const state> s, request& req, context& ctx) {
  if (auto r = s->refuse_unless_session(req, ctx)) co_return *r;
  const std::string id(ctx.param("id"));
  std::optional<bool> done;
  try {
    done = co_await s->o.auth->revoke(ctx.who.subject, id);
  } catch (const std::system_error&) {
  }
  if (!done) co_return s->unavailable(req, ctx);
  if (!*done) co_return ctx.error(req, http::status::not_found, "not found");
  response res{http::status::no_content, req.version()};
  res.keep_alive(req.keep_alive());
  co_return res;
}

}  // namespace

void add_api_key_routes(chain::builder& b, api_key_routes_options options) {
  if (!options.store)
    throw config_error("add_api_key_routes: store is null; pass the store the middleware uses");
  if (!options.auth)
    throw config_error("add_api_key_routes: auth is null; pass the api_key_auth middleware");
  if (options.path.empty() || options.path.front() != '/' || options.path.back() == '/')
    throw config_error("add_api_key_routes: path \"" + options.path +
                       "\" must start with '/' and not end with one, such as \"/api-keys\"");
  if (options.max_keys_per_owner == 0)
    throw config_error("add_api_key_routes: max_keys_per_owner is 0; allow at least 1");
  auto s = std::make_shared<const state>(state{std::move(options)});
  const auto path = s->o.path;
  b.route(http::verb::post, path,
          [s](request& req, context& ctx) { return create_key(s, req, ctx); });
  b.route(http::verb::get, path,
          [s](request& req, context& ctx) { return list_keys(s, req, ctx); });
  b.route(http::verb::delete_, path + "/{id}",
          [s](request& req, context& ctx) { return revoke_key(s, req, ctx); });
}

}  // namespace portcullis
