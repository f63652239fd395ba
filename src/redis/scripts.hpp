// The Lua scripts of the Redis rate-limit store: one per algorithm for
// consume and one for refund. Private to src/redis.
//
// Every script touches exactly one key (KEYS[1]), so it runs on Redis
// Cluster, and takes the same arguments:
//   ARGV[1] now in microseconds, or "" to read Redis's own clock (TIME)
//   ARGV[2] cost   ARGV[3] limit   ARGV[4] window (µs)   ARGV[5] burst
//   ARGV[6] emission interval (µs, may be fractional)   ARGV[7] policy tag
//   ARGV[8] the stamp of the decision being refunded (refund scripts)
// A consume script answers {allowed, never, remaining, reset µs, retry µs,
// stamp}; a refund script answers 1 when it changed something.
//
// The arithmetic is the in-memory store's (rate_limit_store.hpp states it),
// in microseconds rather than nanoseconds: Lua numbers are doubles, exact
// up to 2^53, which holds every epoch time in µs and every product of a
// limit and a window below 2^53 µs (100 000 per day, say); beyond that the
// sliding-window-counter estimate is rounded to the nearest double.
#pragma once

#include "client.hpp"
#include "portcullis/rate_limit_store.hpp"

namespace portcullis::redis::detail {

/// The consume script of `a`.
const script& consume_script(rate_algorithm a);
/// The refund script of `a`.
const script& refund_script(rate_algorithm a);

/// ARGV[1..7] for `p` and `cost`: the time from `decision_clock`, or ""
/// (Redis's clock) when it is null.
std::vector<std::string> script_args(const rate_policy& p, std::uint64_t cost,
                                     const clock* decision_clock);

}  // namespace portcullis::redis::detail
