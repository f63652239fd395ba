// portcullis/clock.hpp — time, injected.
//
// Limiters, caches and deadlines never read the system clock themselves:
// they take a `clock&`. Production code uses `system_clock()`; tests drive a
// `manual_clock` by hand:
//
//     portcullis::manual_clock clk;
//     limiter.check(key, clk.now());
//     clk.advance(std::chrono::seconds(61));   // the window has passed
#pragma once

#include <atomic>
#include <chrono>

namespace portcullis {

/// A source of time. Implementations must be safe to call from any thread.
class clock {
 public:
  /// Monotonic time, for windows, deadlines and TTLs.
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~clock() = default;

  /// Monotonic now. Never goes backwards.
  virtual time_point now() const noexcept = 0;

  /// Wall-clock now, for epoch values sent to clients (`X-RateLimit-Reset`)
  /// and records that are stored (`created`, `last used`).
  virtual std::chrono::system_clock::time_point wall_now() const noexcept = 0;
};

/// The process-wide real clock (steady and system clocks of the OS).
const clock& system_clock() noexcept;

/// The real clock read at the kernel's tick instead of the nanosecond
/// (CLOCK_MONOTONIC_COARSE): a few ns a read where system_clock() costs
/// 20-30 ns on a virtual machine, which is a third of a memory-store
/// decision. Its time is system_clock()'s as of the last tick, so the two
/// may be mixed; `coarse_clock_resolution()` says the tick (4 ms on
/// Debian's kernels, HZ=250), and a late tick on a busy virtual machine
/// lets it trail further (5 ms seen). The cost: decisions within one tick
/// see the same instant, so a window may open or close up to one tick late,
/// and token_bucket / gcra earn units back in steps of a tick (a rate above
/// one unit per tick then arrives in small bursts, its average unchanged).
/// Fit for limits over seconds and longer; keep system_clock() for limits
/// of many requests per second. wall_now() is the system clock's.
const clock& coarse_system_clock() noexcept;

/// The resolution of coarse_system_clock() (the kernel's tick).
std::chrono::nanoseconds coarse_clock_resolution() noexcept;

/// A clock that moves only when told. Starts at an arbitrary fixed point, so
/// that no test depends on the real time. Thread-safe.
class manual_clock final : public clock {
 public:
  manual_clock() = default;

  time_point now() const noexcept override {
    return time_point{duration{ticks_.load(std::memory_order_acquire)}};
  }
  std::chrono::system_clock::time_point wall_now() const noexcept override {
    // The wall clock moves with the monotonic one, from a fixed epoch offset.
    return std::chrono::system_clock::time_point{
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            duration{ticks_.load(std::memory_order_acquire)} + wall_offset)};
  }

  /// Moves time forward by `d` (which must not be negative).
  void advance(duration d) noexcept { ticks_.fetch_add(d.count(), std::memory_order_acq_rel); }

  /// 2026-01-01T00:00:00Z minus the start point: wall time of `now()`.
  static constexpr duration wall_offset = std::chrono::seconds(1767225600);

 private:
  // Starts a day after zero so that "now minus a window" is never negative.
  std::atomic<duration::rep> ticks_{
      std::chrono::duration_cast<duration>(std::chrono::hours(24)).count()};
};

}  // namespace portcullis
