// portcullis/memory_rate_limit_store.hpp — the built-in, in-process
// rate-limit store.
//
// For one process with no set-up: state lives in memory, split into shards
// (each an open-addressing hash table under its own lock) so that threads
// working on different keys rarely meet. A key is identified by its 128-bit
// SipHash-1-3 under a secret drawn when the store is made, and its state
// sits in the same 64-byte slot, so a decision on a key already held reads
// one cache line. Two keys share state only if their hashes collide: with a
// million keys the chance is about 1 in 10^26, and without the secret a
// client cannot aim at it (nor pile keys into one part of a table).
// Tables of 2 MiB and more ask Linux for huge pages.
//
// The number of keys is bounded; when a shard is full a key not used
// recently is evicted (counted in `evictions()`). "Recently" is CLOCK's
// second chance, not exact LRU: a key used since the shard's hand last
// passed it is spared once, so a decision only sets a bit in its own slot;
// a key used once, long ago, may outlive one used a little less long ago.
// A shard more than half full drops a few expired keys per new key, so
// room comes back after a flood of one-off clients; below half, dead keys
// are left alone, so that keys whose state expires between visits are not
// freed and made again. There is never a sweep that stops the world, and a
// decision on a key already held does no clean-up. A shard's table doubles
// as it fills, up to its bound at three quarters full (that one insert
// moves the shard's keys: about a millisecond for 30 000 keys), and keeps
// its size until reset_all(): memory stays at the high-water mark, at most
// about 90 bytes per key of max_keys.
//
//     portcullis::memory_rate_limit_store store{{.max_keys = 100'000}};
//     auto d = store.consume_now("ip:203.0.113.7", policy, 1);
//
// Every decision reads time from the injected clock (tests pass a
// manual_clock). Answers never wait: synchronous() is true and the
// middleware calls consume_now() directly.
//
// Known shortcomings (docs/performance.md, "Rate limiting", has the
// figures and the benchmark that measures them):
//  - One hot key does not scale across cores: every decision on it writes
//    the shard's lock and the key's slot, so two threads on one key do
//    about half of what one thread does. No exact design can do much
//    better, since a cache line crosses cores only so often (measured
//    beside the store); splitting a key's units between cores would, at
//    the price of denials while units sit on another core. Not done.
//  - With a million keys a decision is one miss to memory (the slot) plus
//    the hash and the clock: about 240 ns on a VM whose memory read alone
//    costs 167 ns.
#pragma once

#include "portcullis/clock.hpp"
#include "portcullis/rate_limit_store.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>

namespace portcullis {

struct memory_store_options {
  /// The most keys held at once, over all shards (each shard holds an equal
  /// share, rounded up). Default 1 000 000. Must be at least 1.
  std::size_t max_keys = 1'000'000;
  /// Number of shards, rounded up to a power of two; 0 picks 16 per
  /// hardware thread (at least 16). More shards, less contention.
  std::size_t shards = 0;
  /// How many further expired keys a new key may remove from its shard's
  /// cold end when the shard is more than half full. Default 2: dead keys
  /// then leave at twice the rate new ones arrive.
  std::size_t cleanup_per_call = 2;
};

class memory_rate_limit_store final : public rate_limit_store {
 public:
  /// Throws config_error on max_keys == 0. `clk` must outlive the store.
  explicit memory_rate_limit_store(memory_store_options options = {},
                                   const clock& clk = system_clock());
  ~memory_rate_limit_store() override;

  asio::awaitable<rate_decision> consume(std::string_view key, const rate_policy& policy,
                                         std::uint64_t cost) override;
  asio::awaitable<void> refund(std::string_view key, const rate_policy& policy, std::uint64_t cost,
                               const rate_decision& taken) override;
  asio::awaitable<void> reset(std::string_view key) override;
  asio::awaitable<void> reset_all() override;

  bool synchronous() const noexcept override { return true; }
  /// Never fails: limiters on it need no on_store_error.
  bool can_fail() const noexcept override { return false; }
  /// Never throws for a denial; throws std::bad_alloc only.
  rate_decision consume_now(std::string_view key, const rate_policy& policy,
                            std::uint64_t cost) override;
  void refund_now(std::string_view key, const rate_policy& policy, std::uint64_t cost,
                  const rate_decision& taken) override;
  void reset_now(std::string_view key) noexcept;
  void reset_all_now() noexcept;

  /// Keys held now (sums the shards; each is locked in turn).
  std::size_t size() const noexcept;
  /// Keys evicted to stay within max_keys since construction.
  std::uint64_t evictions() const noexcept;
  /// Expired keys removed since construction.
  std::uint64_t expired_removed() const noexcept;
  /// Bytes held by the shards' tables (64 per slot; a table is at most
  /// three quarters full once grown). Each key's state lives in its slot,
  /// except a sliding_window_log's timestamps (8 bytes each, on the heap).
  std::size_t table_bytes() const noexcept;
  /// The bound in effect (max_keys rounded up to a multiple of the shards).
  std::size_t capacity() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace portcullis
