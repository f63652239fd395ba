// portcullis/redis/rate_limit_store.hpp — rate limits shared through Redis.
//
// When a service runs on several machines, each instance asks one Redis
// (or one Redis Cluster), so that together they enforce one limit:
//
//     portcullis::redis_store_options o;
//     o.server = portcullis::redis_options::parse_url(std::getenv("REDIS_URL"));
//     o.prefix = "myapp:rl:";
//     auto store = std::make_shared<portcullis::redis_rate_limit_store>(o);
//     rate_decision d = co_await store->consume("ip:203.0.113.7", policy, 1);
//
// Each decision is one EVALSHA of a Lua script for the policy's algorithm
// (every algorithm of the in-memory store, with the same answers). The
// script touches exactly one key, so it runs on Redis Cluster; it reads the
// time from Redis (`TIME`), so instances with skewed clocks agree; it gives
// its key a TTL that ends when the state is as good as new, so no key lives
// forever. Scripts are loaded by EVALSHA with the SHA1 computed here; when
// Redis answers NOSCRIPT (a SCRIPT FLUSH, a restart, a failover) every call
// of the burst is retried once as EVAL, which loads the script again.
//
// The connection is hiredis's asynchronous API on a private Asio thread,
// or on a strand of the caller's executor (redis_options::executor: give
// the io_context that serves the requests, and a call never changes
// threads): a request waits without blocking its own thread, and all
// requests share a few pipelined connections (redis_options::connections). Every call has
// a timeout (redis_options::call_timeout); while Redis is unreachable calls
// fail at once with errc::store_unavailable, the connection comes back by
// itself with capped backoff, and the limiter applies its fail-open or
// fail-closed policy. No call ever waits longer than its timeout.
//
// Keys: `prefix + key` exactly. A key with a `{hash tag}` is placed by the
// tag on a cluster; the store adds none of its own.
//
// This header does not include hiredis; link `portcullis::redis`.
#pragma once

#include "portcullis/counters.hpp"
#include "portcullis/rate_limit_store.hpp"
#include "portcullis/redis/options.hpp"

#include <memory>
#include <string>

namespace portcullis {

struct redis_store_options {
  /// Where Redis is, timeouts, pool size, reconnect backoff.
  redis_options server;
  /// Put before every key; keeps the store's keys apart from the rest of
  /// the database and lets reset_all() find them. Must not be empty.
  /// Default "portcullis:rl:".
  std::string prefix = "portcullis:rl:";
  /// The clock decisions read. Null (the default): Redis's own clock
  /// (`TIME`), which is what a fleet of instances needs. Set it only to
  /// drive decisions by hand in tests (a manual_clock), or when a single
  /// instance wants its own clock; instances with different clocks would
  /// then disagree about windows. Must outlive the store.
  const clock* decision_clock = nullptr;
  /// The instance name in counters ("redis" by default).
  std::string name = "redis";
};

/// A rate_limit_store on Redis or Redis Cluster. Thread-safe; answers are
/// asynchronous (synchronous() is false).
///
/// Counters (subsystem `redis_store`): `calls`, `errors` (calls that threw:
/// unavailable, timeouts and protocol errors together), `timeouts`,
/// `unavailable`, `protocol_errors`, `script_reloads` (NOSCRIPT retried as
/// EVAL), `moved`, `ask`, `slot_refreshes`, `connects`, `disconnects`,
/// `stalls` (connections dropped for silence).
///
/// Known shortcomings: cluster nodes that leave the cluster are not
/// forgotten (their connections keep retrying quietly until the store is
/// destroyed); replicas are never read from (every decision writes).
class redis_rate_limit_store final : public rate_limit_store {
 public:
  /// Validates the options (config_error naming the option) and starts
  /// connecting in the background; it does not wait for Redis, and calls
  /// made before the connection is up wait for it up to call_timeout.
  explicit redis_rate_limit_store(redis_store_options options);
  ~redis_rate_limit_store() override;

  asio::awaitable<rate_decision> consume(std::string_view key, const rate_policy& policy,
                                         std::uint64_t cost) override;
  asio::awaitable<void> refund(std::string_view key, const rate_policy& policy, std::uint64_t cost,
                               const rate_decision& taken) override;
  asio::awaitable<void> reset(std::string_view key) override;
  /// Deletes every key under the prefix (SCAN + UNLINK on each node).
  asio::awaitable<void> reset_all() override;

  /// Blocks until every connection is up (and the cluster's slot map is
  /// known) or `timeout` passes; false on timeout. For start-up and tests;
  /// never from a thread that serves requests.
  bool wait_ready(std::chrono::milliseconds timeout) const;

  /// The store's counters (see above).
  const counter_set& counters() const noexcept;

  const redis_store_options& options() const noexcept { return options_; }

 private:
  struct impl;
  redis_store_options options_;
  std::unique_ptr<impl> impl_;
};

}  // namespace portcullis
