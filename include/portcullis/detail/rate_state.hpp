// portcullis/detail/rate_state.hpp — the per-key state of each rate
// algorithm and the pure functions that apply a policy to it.
//
// Shared by the memory store and the benchmarks' baseline. Pure: time is a
// parameter (nanoseconds on the store's clock), nothing is locked here; the
// caller makes each call atomic per key.
#pragma once

#include "portcullis/rate_limit_store.hpp"

#include <cstdint>
#include <vector>

namespace portcullis::detail {

/// One key's state. Field meanings depend on the algorithm:
///  fixed_window            start = window start, count = units counted
///  sliding_window_log      log = timestamps of counted units, ascending
///  sliding_window_counter  start = current window start, count = current,
///                          previous = previous window's count
///  token_bucket            start = last refill instant, count = tokens
///  gcra                    start = theoretical arrival time (TAT)
struct rate_state {
  bool fresh = true;
  rate_algorithm algorithm = rate_algorithm::fixed_window;
  std::uint64_t limit = 0;  // policy snapshot: a changed policy starts afresh
  std::int64_t window = 0;
  std::uint64_t burst = 0;
  std::int64_t start = 0;
  std::uint64_t count = 0;
  std::uint64_t previous = 0;
  std::int64_t expires = 0;       // from then on the state equals a fresh one
  std::vector<std::int64_t> log;  // live entries are log[log_head..]; the
  std::uint32_t log_head = 0;     // dead prefix is compacted when it is half
};

/// Applies one consume of `cost` units at `now` (nanoseconds).
rate_decision apply_consume(rate_state& s, const rate_policy& p, std::uint64_t cost,
                            std::int64_t now);

/// Applies a refund of `cost` units taken by `taken` (see the store rules).
void apply_refund(rate_state& s, const rate_policy& p, std::uint64_t cost,
                  const rate_decision& taken, std::int64_t now);

}  // namespace portcullis::detail
