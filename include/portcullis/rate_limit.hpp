// portcullis/rate_limit.hpp — the rate-limiting middleware.
//
// A `rate_limit` counts each request against a policy under a key (the
// client's IP by default), answers 429 when the key is over its limit, and
// tells clients where they stand in RateLimit headers:
//
//     using namespace portcullis;
//     auto login = std::make_shared<rate_limit>(rate_limit_options{
//         .name = "login",
//         .policy = rate_policy::fixed_window(rate::per(5, std::chrono::minutes(15))),
//         .key = rate_key::ip_and_body_field("email"),
//         .skip_successful = true,           // only failed logins count
//     });
//     b.route(http::verb::post, "/auth/login", login_handler, {.middleware = {login}});
//
// Per request: `skip` may exempt it; the key function names the bucket;
// the cost function says how many units it takes (1 by default); the store
// decides in one atomic step. A denial is answered with the `deny` response
// (JSON 429 by default) and `Retry-After`; an allowed request goes on, and
// with skip_successful / skip_failed its units are refunded once the
// response (or the exception, when the client went away) says so.
//
// Headers (`headers` option; RFC drafts of draft-ietf-httpapi-ratelimit-headers):
//   draft6   RateLimit-Policy: 100;w=900
//            RateLimit-Limit: 100  RateLimit-Remaining: 99  RateLimit-Reset: 900
//   draft7   RateLimit-Policy: 100;w=900
//            RateLimit: limit=100, remaining=99, reset=900
//   draft8   RateLimit-Policy: "100-in-15min";q=100;w=900;pk=:<hash>:
//            RateLimit: "100-in-15min";r=99;t=900
//   ietf     the latest draft's structured lists, named by the limiter:
//            RateLimit-Policy: "api";q=100;w=900;pk=:<hash>:
//            RateLimit: "api";r=99;t=900
//   legacy_headers adds X-RateLimit-Limit / -Remaining / -Reset. Its Reset
//   is an epoch time in seconds (when the quota is whole again), while the
//   drafts' reset / t are delta seconds from now.
// `pk` is the first 12 bytes of SHA-256 of the key, base64: it lets a
// client tell its buckets apart without learning the key (an IP address).
// Durations are whole seconds rounded up. On a 429, `t` (and reset) is the
// time until the request could succeed, and Retry-After equals it: at least
// 1, never earlier than `t`. For token_bucket and gcra, `q` is the burst
// and `w` the time to refill it.
//
// Several limiters on one request (a global one and a route's): each adds
// its decision to the context; the outermost one writes the headers once,
// with its own header options: the single-value forms (draft6, draft7,
// legacy) report the most restrictive decision, the list forms (draft8,
// ietf) one item per policy. Up to `max_rate_limits` (4) are reported.
//
// Misuse caught (throws config_error when built, or a throttled warning and
// the `misuse` counter on first sight):
//  - a rate built without a unit or a period under 1 ms (rate_policy);
//    a window algorithm with a window under 1 s (warning: headers round it);
//  - two limiters with the same name (key prefix) on one store (throws:
//    they would count each other's requests);
//  - the same limiter reached twice by one request (use() on a prefix and
//    on the route): the second pass does not count again, and warns;
//  - a forwarding header (X-Forwarded-For, Forwarded) from a peer that is
//    not a trusted proxy: every client behind that proxy shares one key
//    (warning; see client_address.hpp);
//  - a chain that trusts every address as a proxy (audit(), warning).
#pragma once

#include "portcullis/log.hpp"
#include "portcullis/middleware.hpp"
#include "portcullis/rate_limit_store.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis {

class chain;

/// Which form of the IETF RateLimit header fields a limiter writes.
enum class rate_limit_headers : std::uint8_t { none, draft6, draft7, draft8, ietf };

/// "none", "draft-6", "draft-7", "draft-8", "ietf".
std::string_view to_string(rate_limit_headers h) noexcept;
/// Parses the names above (as written in a config file); throws
/// config_error naming the accepted ones.
rate_limit_headers parse_rate_limit_headers(std::string_view name);

/// What a limiter does when its store fails (throws std::system_error).
/// There is no default: a limiter on a store that can fail must be told
/// which (rate_limit_options::on_store_error).
enum class store_failure : std::uint8_t {
  /// Let the request through without counting it: an outage of the store
  /// must not take the service down (right when the limit protects
  /// capacity).
  fail_open,
  /// Answer 503 `{"error":"rate limiter unavailable"}`.
  fail_closed,
};

/// Names the bucket a request counts in. Called on every request; must be
/// thread-safe. An empty string means "do not limit this request".
using rate_key_function = std::function<std::string(const request&, const context&)>;

/// The usual key functions. IPv6 clients are grouped by `v6_prefix` bits
/// (default /56: one household or one cloud host cannot rotate through its
/// /64s); IPv4-mapped IPv6 is IPv4 (see address_key()).
namespace rate_key {
/// "ip:<client address key>" from ctx.client_address (trusted-proxy rules).
rate_key_function client_ip(unsigned v6_prefix = 56);
/// "user:<subject>" for an authenticated caller; the client IP otherwise.
rate_key_function user(unsigned v6_prefix = 56);
/// "owner:<subject>:<tier>" for an API key's owner (so that every key of one
/// owner shares one budget, per tier); the client IP for anonymous callers.
rate_key_function owner_and_tier(unsigned v6_prefix = 56);
/// "ip:<client>|<field>:<value>": the client IP plus a string field of the
/// JSON body (the validated ctx.body when set, else the raw body), trimmed
/// and lower-cased, as the classic defence against password guessing keys
/// login attempts. A missing or non-string field counts as empty.
rate_key_function ip_and_body_field(std::string field = "email", unsigned v6_prefix = 56);
}  // namespace rate_key

/// Builds the response to a denied request (status, JSON body). The
/// limiter adds the rate-limit headers and Retry-After itself.
using rate_denial_function =
    std::function<response(const request&, const context&, const rate_decision&)>;

struct rate_limit_options {
  /// Required: [a-z0-9_]+. Names the counters' instance, the log lines,
  /// the store key prefix and the `ietf` policy name.
  std::string name;
  /// Required: the policy for every request (and for tiers not listed).
  std::optional<rate_policy> policy;
  /// Policies by ctx.who.tier ("free", "pro"): a caller whose tier is
  /// listed gets that policy instead of `policy`.
  std::vector<std::pair<std::string, rate_policy>> tiers;
  /// Where counts live. Default: a memory_rate_limit_store of its own on the
  /// system clock (for one process; share a store between limiters, and use
  /// Redis for many processes).
  std::shared_ptr<rate_limit_store> store;
  /// The bucket of a request. Default: the client IP (/56 for IPv6).
  /// Must not be empty (config_error).
  rate_key_function key = rate_key::client_ip();
  /// When set and true for a request, it is not counted (counter `skipped`).
  std::function<bool(const request&, const context&)> skip;
  /// Units a request costs; default 1. A cost of 0 is not counted.
  std::function<std::uint64_t(const request&, const context&)> cost;
  /// Refund requests whose response succeeded / failed (by `succeeded`).
  /// A request whose handler threw (the client went away, an error) counts
  /// as failed.
  bool skip_successful = false;
  bool skip_failed = false;
  /// What "succeeded" means; default: status below 400.
  std::function<bool(const response&)> succeeded;
  /// The RateLimit header form; draft7 by default.
  rate_limit_headers headers = rate_limit_headers::draft7;
  /// Also write X-RateLimit-Limit / -Remaining / -Reset (epoch seconds).
  bool legacy_headers = false;
  /// The denial response; default JSON 429 {"error":"too many requests"}
  /// in the chain's error format.
  rate_denial_function deny;
  /// Observes every denial (also dry-run ones); must be cheap and
  /// thread-safe. Exceptions from it are logged and swallowed.
  std::function<void(const request&, const context&, const rate_decision&)> on_limited;
  /// Shadow mode: count, set headers, report denials (counter
  /// `dry_run_limited`, on_limited) but never deny.
  bool dry_run = false;
  /// What a store failure does. Required when the store can fail
  /// (rate_limit_store::can_fail(): Redis, a store of your own); a limiter
  /// on such a store without it throws config_error. Not needed for the
  /// memory store, which never fails.
  std::optional<store_failure> on_store_error;
  /// The share of the quota used at which `near_limit` counts a key (once,
  /// when an allowed request crosses it). (0, 1]; default 0.8.
  double near_limit = 0.8;
  /// Where warnings go.
  logger log;
  /// The store key prefix; default `name`. Two limiters on one store must
  /// not share it.
  std::string key_prefix;
};

/// The middleware. Immutable once built; thread-safe.
///
/// Counters (rate_limit, instance = name): allowed, limited, near_limit,
/// dry_run_limited, skipped, refunded, store_errors, failed_open,
/// failed_closed, misuse.
class rate_limit final : public middleware {
 public:
  /// Throws config_error when: the name is empty or not [a-z0-9_]+; the
  /// policy is missing or invalid (rate_policy::validate); a tier has no
  /// name or is listed twice; the key function is empty; the header form is
  /// not one of rate_limit_headers; near_limit is outside (0, 1]; the store
  /// can fail and on_store_error is not set; the store already serves a
  /// limiter with the same key prefix.
  explicit rate_limit(rate_limit_options options);
  ~rate_limit() override;

  asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const override;
  const counter_set* counters() const noexcept override;

  const rate_limit_options& options() const noexcept;
  /// The store this limiter counts in.
  rate_limit_store& store() const noexcept;
  /// The store key of a key-function result ("<prefix>:<key>"), for admin
  /// resets: `co_await lim.store().reset(lim.store_key(k))`.
  std::string store_key(std::string_view key) const;

  /// Warns (and counts `misuse`) when `c` trusts every address as a proxy:
  /// then clients choose their own address, and so their own key.
  void audit(const chain& c) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Retry-After for a wait: whole seconds rounded up, at least 1.
std::int64_t retry_after_seconds(std::chrono::nanoseconds wait) noexcept;

}  // namespace portcullis
