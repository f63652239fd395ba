// portcullis/rate_limit_store.hpp — rate policies, decisions, and the store
// that applies a policy to a key in one atomic step.
//
// A `rate_policy` says how much traffic a key may send: an algorithm and a
// rate whose unit is always spelled out ("5 requests per second", never a
// bare number). A `rate_limit_store` keeps the state of every key and
// answers `consume(key, policy, cost)` with a `rate_decision`: allowed or
// not, how much is left, and when to come back. A denial is a value, never
// an exception.
//
//     using namespace std::chrono_literals;
//     auto login = portcullis::rate_policy::fixed_window(portcullis::rate::per(5, 15min));
//     auto api = portcullis::rate_policy::gcra(portcullis::rate::per_second(10)).with_burst(20);
//
//     portcullis::memory_rate_limit_store store;     // memory_rate_limit_store.hpp
//     rate_decision d = co_await store.consume("login:203.0.113.7", login, 1);
//     if (!d.allowed) ... d.retry_after ...
//
// Writing a store of your own
// ---------------------------
// Derive from `rate_limit_store` and implement consume, refund, reset and
// reset_all. The rules every store keeps (the middleware and the tests rely
// on them):
//
//  1. consume() is one atomic step per key: the state is read, the decision
//     made and the new state written with no other consume/refund of that
//     key in between (a lock, a compare-and-swap loop, one Redis script).
//     Never a read followed by a separate write.
//  2. A denied consume() changes nothing: it is not recorded, so hammering
//     a limit does not extend the lockout.
//  3. A cost that can never fit (larger than the limit, or than the burst)
//     is denied with `never = true` and changes nothing.
//  4. The decision's durations are never negative; `retry_after` is zero
//     when allowed; `remaining` never exceeds `limit`.
//  5. refund() gives back at most what that consume() took, and only while
//     the window it was taken from is still current (see `stamp`); it never
//     pushes a count below zero nor raises capacity above the limit or burst.
//  6. A key's state may be forgotten once it is back to "full" (no use
//     counted): keep a time-to-live of `reset` on it. A store may also evict
//     a key early to stay within a memory bound; that only ever gives the
//     client more, never less.
//  7. Time comes from the store's own clock (the injected portcullis::clock
//     in memory; the server's clock in Redis, so that many service instances
//     agree), never from the caller.
//  8. Failures throw std::system_error with errc::store_unavailable (cannot
//     reach the backend), errc::store_timeout (no answer within the call
//     timeout; every call must have one) or errc::store_protocol (an answer
//     that makes no sense). The middleware then applies its fail-open or
//     fail-closed policy. Never throw for a denial.
//  9. All members may be called from many threads at once.
//
// The algorithms, precisely (W is the window/period, L the limit, B the
// burst, T = W / L the emission interval; times in nanoseconds):
//
//  - fixed_window: a window starts at a key's first request and lasts W;
//    at most L units are counted in it. remaining = L - count; reset = the
//    window's end; retry_after = the window's end (or never, if cost > L).
//  - sliding_window_log: a request counted at t counts during [t, t + W).
//    Exact: in any interval of length W at most L units are allowed. Memory
//    per key grows with L (one timestamp per unit counted).
//    retry_after = when enough of the oldest entries have left.
//    reset = when the newest entry leaves.
//  - sliding_window_counter: windows of length W from a key's first
//    request; estimate = previous count x (share of the previous window
//    still inside the sliding window) + current count. Allowed when
//    estimate + cost <= L. Two integers per key; an approximation of the log
//    that can never let through more than 2L in a window and in practice
//    errs by a few percent.
//  - token_bucket: a bucket of B tokens (default L) refilled by one token
//    every T, in whole tokens; each request takes `cost` tokens.
//    remaining = tokens left; reset = when the bucket is full again.
//  - gcra: the generic cell rate algorithm (as in ATM, governor,
//    redis-cell): one "theoretical arrival time" per key. Allows a burst of
//    B, then one unit every T. Equivalent to a continuous token bucket;
//    cheapest state (one integer). remaining = units that could be sent now;
//    reset = when the full burst is available again.
#pragma once

#include "portcullis/http.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace portcullis {

/// A number of requests per a stated period. Only these named builders
/// make one, so that the unit is always in the code:
///
///     rate::per_second(5)          // 5 requests per second
///     rate::per_minute(100)
///     rate::per(100, std::chrono::minutes(15))
class rate {
 public:
  static constexpr rate per_second(std::uint64_t n) noexcept {
    return {n, std::chrono::seconds(1)};
  }
  static constexpr rate per_minute(std::uint64_t n) noexcept {
    return {n, std::chrono::minutes(1)};
  }
  static constexpr rate per_hour(std::uint64_t n) noexcept { return {n, std::chrono::hours(1)}; }
  static constexpr rate per_day(std::uint64_t n) noexcept { return {n, std::chrono::hours(24)}; }
  /// `n` requests per `period` (any std::chrono duration).
  template <typename Rep, typename Period>
  static constexpr rate per(std::uint64_t n, std::chrono::duration<Rep, Period> period) noexcept {
    return {n, std::chrono::duration_cast<std::chrono::nanoseconds>(period)};
  }

  constexpr std::uint64_t count() const noexcept { return count_; }
  constexpr std::chrono::nanoseconds period() const noexcept { return period_; }

  /// "5 per 1s", "100 per 15m", for messages and logs.
  std::string to_string() const;

  friend constexpr bool operator==(const rate&, const rate&) = default;

 private:
  constexpr rate(std::uint64_t n, std::chrono::nanoseconds p) noexcept : count_(n), period_(p) {}
  std::uint64_t count_;
  std::chrono::nanoseconds period_;
};

enum class rate_algorithm : std::uint8_t {
  fixed_window,
  sliding_window_log,
  sliding_window_counter,
  token_bucket,
  gcra,
};

/// "fixed_window", "sliding_window_log", "sliding_window_counter",
/// "token_bucket", "gcra".
std::string_view to_string(rate_algorithm a) noexcept;

/// The algorithm named by `name` (one of the names above, as written in a
/// config file). Throws config_error naming the accepted names.
rate_algorithm parse_rate_algorithm(std::string_view name);

/// How much traffic one key may send. Immutable value; cheap to copy.
///
///     rate_policy::fixed_window(rate::per(100, std::chrono::minutes(15)))
///     rate_policy::token_bucket(rate::per_second(1)).with_burst(3)
class rate_policy {
 public:
  /// At most `r.count()` units per window of `r.period()`.
  static rate_policy fixed_window(rate r) { return {rate_algorithm::fixed_window, r}; }
  static rate_policy sliding_window_log(rate r) { return {rate_algorithm::sliding_window_log, r}; }
  static rate_policy sliding_window_counter(rate r) {
    return {rate_algorithm::sliding_window_counter, r};
  }
  /// Refills at `r`; holds at most the burst (default `r.count()`).
  static rate_policy token_bucket(rate r) { return {rate_algorithm::token_bucket, r}; }
  /// Emits at `r`; allows a burst (default `r.count()`).
  static rate_policy gcra(rate r) { return {rate_algorithm::gcra, r}; }
  static rate_policy make(rate_algorithm a, rate r) { return {a, r}; }

  /// The largest number of units a key may spend at once (token_bucket and
  /// gcra only; the window algorithms' burst is their limit). 0 means "the
  /// rate's count".
  rate_policy with_burst(std::uint64_t units) const {
    rate_policy p = *this;
    p.burst_ = units;
    p.fingerprint_ = p.make_fingerprint();
    return p;
  }

  rate_algorithm algorithm() const noexcept { return algorithm_; }
  /// The rate as given.
  rate given_rate() const noexcept { return rate_; }
  /// The window (window algorithms) or the period of the rate.
  std::chrono::nanoseconds window() const noexcept { return rate_.period(); }
  /// The quota a client sees: the window algorithms' limit, the buckets'
  /// burst. This is `limit` in decisions and `q` in headers.
  std::uint64_t limit() const noexcept;
  /// The burst for token_bucket and gcra (the rate's count when not set).
  std::uint64_t burst() const noexcept { return burst_ != 0 ? burst_ : rate_.count(); }
  /// Time to earn one unit back (token_bucket, gcra): period / count.
  std::chrono::nanoseconds emission_interval() const noexcept;
  /// The period a client sees as `w` in headers: the window, or for the
  /// buckets the time to refill the whole burst.
  std::chrono::nanoseconds quota_period() const noexcept;

  /// Throws config_error (naming `what`, e.g. "rate_limit 'login': policy")
  /// when the policy cannot work: a count of zero, a period under one
  /// millisecond or over 366 days, a burst on a window algorithm that
  /// differs from its limit, an emission interval under 1 ns, or a
  /// sliding_window_log limit above 100 000 (it keeps one timestamp per
  /// unit; use sliding_window_counter).
  void validate(std::string_view what) const;

  /// "fixed_window 100 per 15m", "gcra 10 per 1s burst 20".
  std::string to_string() const;

  /// A 64-bit digest of the algorithm, limit, window and burst; never 0.
  /// Stores keep it beside a key's state to notice the key used under
  /// another policy (which then starts afresh). Two different policies
  /// share a fingerprint with a chance of 2^-64.
  std::uint64_t fingerprint() const noexcept { return fingerprint_; }

  friend bool operator==(const rate_policy&, const rate_policy&) = default;

 private:
  rate_policy(rate_algorithm a, rate r)
      : algorithm_(a), rate_(r), fingerprint_(make_fingerprint()) {}
  std::uint64_t make_fingerprint() const noexcept;
  rate_algorithm algorithm_;
  rate rate_;
  std::uint64_t burst_ = 0;
  std::uint64_t fingerprint_ = 0;
};

/// The answer to one consume(). A value: a denial is not an error.
struct rate_decision {
  /// True when the units were taken and the request may proceed.
  bool allowed = false;
  /// True (with allowed == false) when the cost can never fit the policy:
  /// it is larger than the limit or burst. Waiting does not help.
  bool never = false;
  /// The policy's quota (rate_policy::limit()).
  std::uint64_t limit = 0;
  /// Units left right after this decision (0..limit).
  std::uint64_t remaining = 0;
  /// Time until the quota is whole again (nothing counted). Never negative.
  std::chrono::nanoseconds reset{0};
  /// When denied: time until a request of the same cost would be allowed
  /// (0 when allowed, and when `never`). Exact; the middleware rounds it up
  /// to whole seconds for Retry-After.
  std::chrono::nanoseconds retry_after{0};
  /// Opaque to callers: identifies what this consume() took, for refund().
  /// Its meaning is the store's own (a window start, a log timestamp).
  std::int64_t stamp = 0;
};

/// The state of every key under rate limiting. See the top of this file
/// for the rules an implementation keeps.
class rate_limit_store {
 public:
  virtual ~rate_limit_store() = default;

  /// Takes `cost` units (>= 1) of `policy` for `key`, atomically, and
  /// returns the decision. Keys are opaque bytes (the middleware prefixes
  /// them with the limiter's name). Throws std::system_error
  /// (store_unavailable, store_timeout, store_protocol) when the backend
  /// fails.
  virtual asio::awaitable<rate_decision> consume(std::string_view key, const rate_policy& policy,
                                                 std::uint64_t cost) = 0;

  /// Gives back `cost` units that the decision `taken` took for `key`
  /// (skip_successful / skip_failed). A no-op when the window it was taken
  /// from has ended or the key was forgotten. Throws as consume() does.
  virtual asio::awaitable<void> refund(std::string_view key, const rate_policy& policy,
                                       std::uint64_t cost, const rate_decision& taken) = 0;

  /// Forgets `key` (an admin "unblock"). Throws as consume() does.
  virtual asio::awaitable<void> reset(std::string_view key) = 0;

  /// Forgets every key this store holds (for a Redis store: every key under
  /// its prefix). Throws as consume() does.
  virtual asio::awaitable<void> reset_all() = 0;

  // -- The synchronous fast path ------------------------------------------
  // A store whose answers never wait (the memory store) says so, and the
  // middleware then calls the *_now forms directly: no coroutine frame on
  // the hot path. The defaults say "asynchronous only".

  /// True when consume_now() and refund_now() are implemented.
  virtual bool synchronous() const noexcept { return false; }
  /// consume() without a coroutine. Default: throws std::logic_error.
  virtual rate_decision consume_now(std::string_view key, const rate_policy& policy,
                                    std::uint64_t cost);
  /// refund() without a coroutine. Default: throws std::logic_error.
  virtual void refund_now(std::string_view key, const rate_policy& policy, std::uint64_t cost,
                          const rate_decision& taken);

  /// True when calls may throw (a network, a database): a limiter on this
  /// store must then be told whether to fail open or closed, and refuses
  /// to be built otherwise. Default true; a store that cannot fail (the
  /// memory store) says false. Should such a store throw all the same, an
  /// undeclared limiter lets the request through (fail open).
  virtual bool can_fail() const noexcept { return true; }

  // -- Misuse detection ---------------------------------------------------

  /// Registers a key prefix used by one limiter. Returns false when another
  /// limiter already registered the same prefix on this store: the two
  /// would count each other's requests (the middleware warns and throws).
  bool claim_prefix(std::string_view prefix);
  /// Releases a prefix (when the limiter that claimed it is destroyed).
  void release_prefix(std::string_view prefix);

 private:
  std::mutex prefixes_mutex_;
  std::set<std::string, std::less<>> prefixes_;
};

}  // namespace portcullis
