#include "portcullis/clock.hpp"

#include <gtest/gtest.h>

namespace portcullis {
namespace {

using namespace std::chrono_literals;

TEST(clock, the_coarse_clock_trails_the_real_one_by_about_a_tick) {
  const auto res = coarse_clock_resolution();
  EXPECT_GT(res, 0ns);
  EXPECT_LE(res, 10ms) << "a kernel tick longer than 10 ms";
  const clock& coarse = coarse_system_clock();
  const clock& real = system_clock();
  auto closest = clock::duration::max();
  auto last = coarse.now();
  // Five ticks' worth of reads: the coarse clock never runs ahead, never
  // goes back, and right after some tick it is close to the real one.
  const auto until = real.now() + 5 * res;
  for (auto r = real.now(); r < until;) {
    const auto c = coarse.now();
    r = real.now();
    ASSERT_LE(c, r) << "the coarse clock ran ahead of the real one";
    ASSERT_GE(c, last) << "the coarse clock went backwards";
    closest = std::min(closest, r - c);
    last = c;
  }
  // Within a tick, or two when the timer interrupt comes late (on a
  // loaded VM the coarse clock trails by up to ~5 ms with 4 ms ticks, as
  // clock.hpp says; once, under ASan, the closest read was 4.003 ms).
  EXPECT_LT(closest, 2 * res);
}

TEST(clock, the_coarse_clock_moves) {
  const clock& coarse = coarse_system_clock();
  const auto start = coarse.now();
  const auto deadline = system_clock().now() + 1s;
  while (coarse.now() == start && system_clock().now() < deadline) {
  }
  EXPECT_GT(coarse.now(), start) << "no tick in a second";
}

}  // namespace
}  // namespace portcullis
