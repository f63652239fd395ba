// portcullis/api_key_auth.hpp — authenticating requests by API key.
//
//     auto store = std::make_shared<portcullis::memory_api_key_store>();
//     auto keys = std::make_shared<portcullis::api_key_auth>(portcullis::api_key_auth_options{
//         .store = store,
//         .hasher = portcullis::api_key_hasher{{{.id = "k1", .secret = pepper}}},
//     });
//     b.use("/api", keys);
//     b.route(http::verb::post, "/api/items", create_item,
//             {.middleware = {portcullis::require_scopes({"items:write"})}});
//
// Where the key comes from: `X-API-Key: <key>` or `Authorization: Bearer
// <key>`; a query parameter only when `query_parameter` names one (off by
// default: URLs end up in proxy logs, browser history and Referer headers).
// A request without a key gets 401 with a hint of where to put one. A key
// that is malformed, unknown, revoked, expired or used up gets one and the
// same 401 (`{"error":"invalid API key"}`), so that the answer tells an
// attacker nothing. A valid key puts the caller into `ctx.who`
// (via = api_key, subject = owner, key_id, tier, scopes); a rate limiter
// after it can then count per owner and tier, so that a user who makes
// more keys gets no more quota.
//
// Speed. A verified key is cached in memory: hits and misses both, bounded
// (`cache_size`, oldest dropped first) and with a TTL. A hit costs a
// digest and a map lookup: no store call. Last-used times and use counts
// gather in memory and reach the store in one batch every
// `touch_interval`, not one UPDATE per request. Keys with a use limit are
// the exception: each use is taken from the store atomically, so the limit
// holds across instances.
//
// Revocation. The store publishes every revocation it learns of (for
// PostgreSQL, through LISTEN/NOTIFY from any instance) and the cache drops
// that key at once; on the instance that revoked, before revoke() returns.
// Should notifications be lost, `cache_ttl` bounds how long a revoked key
// keeps working. A cache fill that races with a revocation (the store read
// the key just before it was revoked) is never stored as valid.
//
// When the store fails or does not answer within `store_timeout`: keys
// not in the cache get 503 `{"error":"authentication unavailable"}` with
// `Retry-After`, a warning is logged (at most one per 10 s), and
// `store_errors` moves. Keys in the cache keep working for their TTL, or
// get 503 too when `when_store_down` is `refuse`. The key itself never
// reaches a log: lines carry its fingerprint.
//
// Time: digests of unknown keys are looked up like any other, and cached
// misses are answered like cached hits, so the time of a 401 depends on
// the cache, not on whether the key ever existed. A key whose checksum is
// wrong is refused without a lookup: anyone can compute the checksum, so
// that tells nothing about stored keys.
#pragma once

#include "portcullis/api_key.hpp"
#include "portcullis/api_key_store.hpp"
#include "portcullis/clock.hpp"
#include "portcullis/counters.hpp"
#include "portcullis/log.hpp"
#include "portcullis/middleware.hpp"

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

/// What happens to cached keys while the store is failing.
enum class store_down_policy : std::uint8_t {
  /// Cached keys keep working until their cache entry expires (default).
  serve_cached,
  /// Every key needs the store: cache hits are checked with it again, and
  /// get 503 while it fails.
  refuse,
};

struct api_key_auth_options {
  /// The records. Required.
  std::shared_ptr<api_key_store> store;
  /// The key format accepted (prefix, length).
  api_key_format format;
  /// How keys were digested: must be the hasher that issued them.
  api_key_hasher hasher;

  /// A query parameter that may carry the key ("api_key"); empty: never
  /// read from the URL (the default, see the header comment).
  std::string query_parameter;
  /// When true, a request without any key passes on anonymous (for routes
  /// that also accept sessions); a wrong key is still refused.
  bool optional = false;
  /// Scopes every request through this middleware needs (403 otherwise).
  std::vector<std::string> required_scopes;

  /// Cache entries (hits and misses) kept at most. 0 turns the cache off.
  std::size_t cache_size = 100'000;
  /// How long a verified key is trusted without asking the store: the
  /// upper bound of how late a revocation is seen when notifications are
  /// lost. 1 s .. 1 h.
  clock::duration cache_ttl = std::chrono::seconds(60);
  /// How long an unknown key is remembered as unknown. At most cache_ttl.
  clock::duration miss_ttl = std::chrono::seconds(10);
  /// How often gathered uses and last-used times are written. 100 ms .. 1 h.
  clock::duration touch_interval = std::chrono::seconds(10);
  /// The longest a store call may take before it counts as failed.
  clock::duration store_timeout = std::chrono::seconds(2);
  /// See store_down_policy.
  store_down_policy when_store_down = store_down_policy::serve_cached;
  /// The `Retry-After` of a 503, in seconds.
  unsigned retry_after_seconds = 1;

  /// Where warnings go; per-request lines are debug level.
  logger log;
  /// The clock for TTLs, expiry and last-used times. Must outlive the
  /// middleware. Null: the system clock.
  const clock* time = nullptr;
  /// The instance name in counters and logs.
  std::string name = "api";
};

/// The caller a valid key stands for.
struct api_key_identity {
  std::string key_id;
  std::string owner;
  std::string tier;
  std::vector<std::string> scopes;
};

/// The outcome of checking one key.
enum class api_key_status : std::uint8_t {
  valid,
  /// Wrong prefix, length, alphabet or checksum.
  malformed,
  unknown,
  revoked,
  expired,
  /// A key with max_uses that has none left.
  used_up,
  /// The store failed; nothing can be said.
  unavailable,
};

/// The lower-case name of a status ("valid", "used_up" …).
std::string_view to_string(api_key_status s) noexcept;

struct api_key_verdict {
  api_key_status status = api_key_status::unknown;
  /// Set when status is valid.
  std::shared_ptr<const api_key_identity> who;
};

namespace detail {
struct api_key_cache;
}

/// The middleware. Also usable without HTTP through verify().
///
/// Counters: `allowed`, `missing`, `invalid` (any 401 for a key that was
/// sent), `forbidden` (403, scopes), `unavailable` (503), `cache_hits`,
/// `cache_misses`, `store_errors`, `revocations` (invalidations heard),
/// `fills_dropped` (cache fills dropped because a revocation raced them),
/// `touch_batches`, `touch_errors`.
class api_key_auth final : public middleware {
 public:
  /// Throws config_error when the store is missing, a scope is invalid or
  /// a duration is out of range; the message names the option.
  explicit api_key_auth(api_key_auth_options options);
  ~api_key_auth() override;

  asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const override;
  const counter_set* counters() const noexcept override;

  /// Checks a key: from the cache when it can, else from the store.
  /// Counts a use of a valid key. Never throws for a store failure
  /// (status `unavailable`).
  asio::awaitable<api_key_verdict> verify(std::string_view key) const;

  /// The cache's answer for `key`, or nothing when the store must be asked.
  /// Counts a use of a valid key. Never suspends (for benchmarks and for
  /// callers that cannot await).
  std::optional<api_key_verdict> verify_cached(std::string_view key) const;

  /// Revokes key `id` of `owner` through the store (which tells every
  /// instance) and drops it from this cache before returning. False when
  /// `owner` has no such live key. Throws std::system_error when the store
  /// fails.
  asio::awaitable<bool> revoke(std::string_view owner, std::string_view id) const;

  /// Writes the gathered uses now (also done every touch_interval by the
  /// requests themselves). Call it before shutting down; uses gathered
  /// since the last write are otherwise lost (last-used is advisory; use
  /// limits are counted by the store and lose nothing).
  asio::awaitable<void> flush() const;

  /// Drops every cache entry.
  void clear_cache() const;

  const api_key_auth_options& options() const noexcept { return options_; }

 private:
  // The part of handle() that waits for verify(), and the verdict's answer
  // (a refusal, or nothing once ctx.who is set).
  asio::awaitable<response> authenticate(request& req, context& ctx, next_handler next,
                                         std::string_view key) const;
  std::optional<response> admit(request& req, context& ctx, const api_key_verdict& verdict,
                                std::string_view key) const;

  api_key_auth_options options_;
  std::shared_ptr<detail::api_key_cache> cache_;
  std::uint64_t subscription_ = 0;
};

/// A middleware that answers 403 `{"error":"missing scope","details":
/// {"required":[...]}}` unless `ctx.who` holds every scope in `scopes`,
/// and 401 when nobody is authenticated. Put it after an authentication
/// middleware. Throws config_error for an empty or invalid scope.
std::shared_ptr<const middleware> require_scopes(std::vector<std::string> scopes);

}  // namespace portcullis
