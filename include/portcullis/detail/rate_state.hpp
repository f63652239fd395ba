// portcullis/detail/rate_state.hpp — the per-key state of each rate
// algorithm and the pure functions that apply a policy to it.
//
// Shared by the memory store and the benchmarks' baseline. Pure: time is a
// parameter (nanoseconds on the store's clock), nothing is locked here; the
// caller makes each call atomic per key.
#pragma once

#include "portcullis/rate_limit_store.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace portcullis::detail {

/// The timestamps of sliding_window_log, kept out of line: only that
/// algorithm needs them, and every other state stays 48 bytes.
/// Live entries are entries[head..], ascending; the dead prefix is compacted
/// once it is half the vector.
struct rate_log {
  std::vector<std::int64_t> entries;
  std::uint32_t head = 0;
};

/// One key's state, 48 bytes. Field meanings depend on the algorithm:
///  fixed_window            start = window start, count = units counted
///  sliding_window_log      log = timestamps of counted units
///  sliding_window_counter  start = current window start, count = current,
///                          previous = previous window's count
///  token_bucket            start = last refill instant, count = tokens
///  gcra                    start = theoretical arrival time (TAT)
/// `policy` is a 64-bit fingerprint of the policy that made the state
/// (algorithm, limit, window, burst; never 0): a key used under another
/// policy starts afresh. Two different policies sharing a fingerprint
/// (chance 2^-64 per pair) would share the key's state.
struct rate_state {
  std::uint64_t policy = 0;  // 0: fresh, never used
  std::int64_t start = 0;
  std::uint64_t count = 0;
  std::uint64_t previous = 0;
  std::int64_t expires = 0;  // from then on the state equals a fresh one
  std::unique_ptr<rate_log> log;
};

/// Applies one consume of `cost` units at `now` (nanoseconds).
rate_decision apply_consume(rate_state& s, const rate_policy& p, std::uint64_t cost,
                            std::int64_t now);

/// Applies a refund of `cost` units taken by `taken` (see the store rules).
void apply_refund(rate_state& s, const rate_policy& p, std::uint64_t cost,
                  const rate_decision& taken, std::int64_t now);

}  // namespace portcullis::detail
