// The reference server's rate limits, in one place (docs/rate-limiting.md).
// The quotas come from the configuration ("rate_limits", config.hpp); these
// are the defaults:
//
//   every other route         100 per 15 minutes per client IP
//   POST /auth/login            5 per 15 minutes per IP + email (failures only)
//   POST /auth/forgot-password  3 per hour per IP
//   API keys by tier          free 10/min, pro 100/min, enterprise 1000/min,
//                             keyed by the key's owner and tier
//   GET /health, /metrics     never limited (and their /v1 twins)
//
// app.cpp installs them:
//
//     auto limits = secure_api::make_rate_limits(store, cfg.rate_limits, on_error, log);
//     b.use(limits.api);
//     b.use(limits.tiers);
//     b.route(post, "/auth/login", login, {.middleware = {limits.login}});
//     b.route(post, "/auth/forgot-password", forgot, {.middleware = {limits.forgot}});
//     limits.api->audit(app);
#pragma once

#include "config.hpp"

#include <portcullis/rate_limit.hpp>

#include <chrono>
#include <memory>
#include <optional>

namespace secure_api {

struct rate_limits {
  std::shared_ptr<const portcullis::rate_limit> api;
  std::shared_ptr<const portcullis::rate_limit> tiers;
  std::shared_ptr<const portcullis::rate_limit> login;
  std::shared_ptr<const portcullis::rate_limit> forgot;
};

/// All limiters share `store` (memory or Redis); each has its own prefix.
/// `on_error` is what they do when the store fails: required (config_error
/// otherwise) when the store can fail, as Redis can.
inline rate_limits make_rate_limits(std::shared_ptr<portcullis::rate_limit_store> store,
                                    const rate_limit_settings& quotas = {},
                                    std::optional<portcullis::store_failure> on_error = {},
                                    portcullis::logger log = {}) {
  using namespace portcullis;
  auto per = [](const limit_setting& s) { return rate::per(s.limit, s.window); };
  // Health checks and metric scrapes are never counted: a scraper must not
  // spend a client's quota, and both must answer while the store is down
  // under "closed" (/metrics is loopback-only by its own middleware).
  auto unlimited = [](const request& req, const context& ctx) {
    return req.method() == http::verb::get &&
           (ctx.path == "/health" || ctx.path == "/v1/health" || ctx.path == "/metrics" ||
            ctx.path == "/v1/metrics");
  };
  rate_limits out;
  out.api = std::make_shared<rate_limit>(rate_limit_options{
      .name = "api",
      .policy = rate_policy::fixed_window(per(quotas.api)),
      .store = store,
      .key = rate_key::client_ip(),
      .skip = unlimited,
      .on_store_error = on_error,
      .log = log,
  });
  // Keyed by API-key owner and tier; anonymous callers are left to `api`.
  out.tiers = std::make_shared<rate_limit>(rate_limit_options{
      .name = "tier",
      .policy = rate_policy::gcra(per(quotas.tier_free)),
      .tiers = {{"free", rate_policy::gcra(per(quotas.tier_free))},
                {"pro", rate_policy::gcra(per(quotas.tier_pro))},
                {"enterprise", rate_policy::gcra(per(quotas.tier_enterprise))}},
      .store = store,
      .key = [](const request&, const context& ctx) -> std::string {
        if (ctx.who.via != identity::method::api_key) return {};
        return "owner:" + ctx.who.subject + ":" + ctx.who.tier;
      },
      .on_store_error = on_error,
      .log = log,
  });
  out.login = std::make_shared<rate_limit>(rate_limit_options{
      .name = "login",
      .policy = rate_policy::sliding_window_log(per(quotas.login)),
      .store = store,
      .key = rate_key::ip_and_body_field("email"),
      .skip_successful = true,
      .on_store_error = on_error,
      .log = log,
  });
  out.forgot = std::make_shared<rate_limit>(rate_limit_options{
      .name = "forgot_password",
      .policy = rate_policy::fixed_window(per(quotas.forgot_password)),
      .store = store,
      .key = rate_key::client_ip(),
      .on_store_error = on_error,
      .log = log,
  });
  return out;
}

}  // namespace secure_api
