// The reference server's rate limits, in one place (docs/rate-limiting.md).
//
//   /api and /v1            100 per 15 minutes per client IP
//   POST /auth/login          5 per 15 minutes per IP + email (failures only)
//   POST /auth/forgot-password 3 per hour per IP
//   API keys by tier        free 10/min, pro 100/min, enterprise 1000/min,
//                           keyed by the key's owner and tier
//   GET /health             never limited
//
// main.cpp installs them:
//
//     auto limits = secure_api::make_rate_limits(store, log);
//     b.use("/api", limits.api);      b.use("/v1", limits.api);
//     b.use("/api", limits.tiers);    b.use("/v1", limits.tiers);
//     b.route(post, "/auth/login", login, {.middleware = {limits.login}});
//     b.route(post, "/auth/forgot-password", forgot, {.middleware = {limits.forgot}});
//     limits.api->audit(app);
#pragma once

#include <portcullis/rate_limit.hpp>

#include <chrono>
#include <memory>

namespace secure_api {

struct rate_limits {
  std::shared_ptr<const portcullis::rate_limit> api;
  std::shared_ptr<const portcullis::rate_limit> tiers;
  std::shared_ptr<const portcullis::rate_limit> login;
  std::shared_ptr<const portcullis::rate_limit> forgot;
};

/// All limiters share `store` (memory or Redis); each has its own prefix.
inline rate_limits make_rate_limits(std::shared_ptr<portcullis::rate_limit_store> store,
                                    portcullis::logger log = {}) {
  using namespace portcullis;
  using namespace std::chrono_literals;
  auto not_health = [](const request& req, const context& ctx) {
    return req.method() == http::verb::get && (ctx.path == "/health" || ctx.path == "/v1/health");
  };
  rate_limits out;
  out.api = std::make_shared<rate_limit>(rate_limit_options{
      .name = "api",
      .policy = rate_policy::fixed_window(rate::per(100, 15min)),
      .store = store,
      .key = rate_key::client_ip(),
      .skip = not_health,
      .log = log,
  });
  // Keyed by API-key owner and tier; anonymous callers are left to `api`.
  out.tiers = std::make_shared<rate_limit>(rate_limit_options{
      .name = "tier",
      .policy = rate_policy::gcra(rate::per_minute(10)),
      .tiers = {{"free", rate_policy::gcra(rate::per_minute(10))},
                {"pro", rate_policy::gcra(rate::per_minute(100))},
                {"enterprise", rate_policy::gcra(rate::per_minute(1000))}},
      .store = store,
      .key = [](const request&, const context& ctx) -> std::string {
        if (ctx.who.via != identity::method::api_key) return {};
        return "owner:" + ctx.who.subject + ":" + ctx.who.tier;
      },
      .log = log,
  });
  out.login = std::make_shared<rate_limit>(rate_limit_options{
      .name = "login",
      .policy = rate_policy::sliding_window_log(rate::per(5, 15min)),
      .store = store,
      .key = rate_key::ip_and_body_field("email"),
      .skip_successful = true,
      .log = log,
  });
  out.forgot = std::make_shared<rate_limit>(rate_limit_options{
      .name = "forgot_password",
      .policy = rate_policy::fixed_window(rate::per_hour(3)),
      .store = store,
      .key = rate_key::client_ip(),
      .log = log,
  });
  return out;
}

}  // namespace secure_api
