#include "portcullis/rate_limit_store.hpp"

#include "portcullis/errc.hpp"
#include "portcullis/memory_rate_limit_store.hpp"
#include "support/cases.hpp"
#include "support/rate_limit_suite.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <random>
#include <thread>
#include <tuple>

namespace portcullis {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

// The shared sequences (tests/support/rate_limit_suite.hpp); the Redis
// store's integration tests run the same ones.
TEST(rate_limit_store, every_sequence_case) {
  test::check_every_sequence_case([](manual_clock& clk) -> std::unique_ptr<rate_limit_store> {
    return std::make_unique<memory_rate_limit_store>(memory_store_options{}, clk);
  });
}

TEST(rate_limit_store, policy_builder_names_units_and_validates) {
  EXPECT_EQ(rate::per_minute(100).period(), 60s);
  EXPECT_EQ(rate::per(5, 15min).to_string(), "5 per 15m");
  EXPECT_EQ(rate_policy::gcra(rate::per_second(10)).with_burst(20).to_string(),
            "gcra 10 per 1s burst 20");
  EXPECT_EQ(rate_policy::gcra(rate::per_second(10)).limit(), 10u);
  EXPECT_EQ(rate_policy::gcra(rate::per_second(10)).with_burst(20).limit(), 20u);
  EXPECT_EQ(rate_policy::gcra(rate::per_second(10)).with_burst(20).quota_period(), 2s);
  EXPECT_EQ(rate_policy::fixed_window(rate::per_hour(3)).quota_period(), 1h);

  auto throws_naming = [](const rate_policy& p, std::string_view needle) {
    try {
      p.validate("rate_limit 'x': policy");
      ADD_FAILURE() << p.to_string() << " was accepted";
    } catch (const config_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("rate_limit 'x'"), std::string::npos) << e.what();
    }
  };
  throws_naming(rate_policy::fixed_window(rate::per_second(0)), "rate of 0");
  throws_naming(rate_policy::fixed_window(rate::per(5, 0s)), "shorter than 1 ms");
  throws_naming(rate_policy::fixed_window(rate::per(5, 100us)), "rate::per_second");
  throws_naming(rate_policy::fixed_window(rate::per_second(5)).with_burst(9), "burst");
  throws_naming(rate_policy::sliding_window_log(rate::per_second(200'000)),
                "sliding_window_counter");
  throws_naming(rate_policy::gcra(rate::per(2'000'000, 1ms)), "per nanosecond");
  EXPECT_THROW(parse_rate_algorithm("leaky"), config_error);
  EXPECT_EQ(parse_rate_algorithm("gcra"), rate_algorithm::gcra);
}

// ---------------------------------------------------------------------------
// Property tests: random traffic on a manual clock, checking each
// algorithm's invariant over the units that stayed counted (allowed minus
// refunded).

struct event {
  std::int64_t t;
  std::int64_t units;
};

// Largest number of net units inside any half-open interval of length `len`.
std::int64_t max_in_interval(const std::vector<event>& events, std::int64_t len) {
  std::int64_t best = 0, sum = 0;
  std::size_t lo = 0;
  for (std::size_t hi = 0; hi < events.size(); ++hi) {
    sum += events[hi].units;
    while (events[hi].t - events[lo].t >= len) sum -= events[lo++].units;
    best = std::max(best, sum);
  }
  return best;
}

void check_invariants(const rate_policy& p, std::uint32_t seed) {
  SCOPED_TRACE(p.to_string() + " seed " + std::to_string(seed));
  manual_clock clk;
  memory_rate_limit_store store{{}, clk};
  std::mt19937 rng(seed);
  const std::int64_t w = p.window().count();
  const std::int64_t t_unit = p.emission_interval().count();
  std::vector<event> events;  // net units per instant
  std::deque<std::tuple<std::size_t, rate_decision, std::uint64_t>> refundable;
  std::vector<std::int64_t> fixed_starts;

  for (int i = 0; i < 3000; ++i) {
    // Time moves by steps from nothing to a little over a window.
    switch (rng() % 4) {
      case 0:
        break;
      case 1:
        clk.advance(nanoseconds{static_cast<std::int64_t>(rng() % (w / 50 + 1))});
        break;
      case 2:
        clk.advance(nanoseconds{static_cast<std::int64_t>(rng() % (w / 5 + 1))});
        break;
      case 3:
        if (rng() % 20 == 0) clk.advance(nanoseconds{w + static_cast<std::int64_t>(rng() % w)});
        break;
    }
    const std::int64_t now = clk.now().time_since_epoch().count();
    if (!refundable.empty() && rng() % 5 == 0) {
      // A refund is recorded as taking its units back at the instant they
      // were counted; the invariants below then hold for what stayed
      // counted, so a refund that created capacity would show as excess.
      auto [index, taken, cost] = refundable.front();
      refundable.pop_front();
      store.refund_now("k", p, cost, taken);
      events[index].units -= static_cast<std::int64_t>(cost);
      continue;
    }
    const std::uint64_t cost = 1 + rng() % 3;
    auto d = store.consume_now("k", p, cost);

    EXPECT_LE(d.remaining, d.limit);
    EXPECT_GE(d.reset.count(), 0);
    EXPECT_GE(d.retry_after.count(), 0);
    if (d.allowed) {
      EXPECT_EQ(d.retry_after.count(), 0);
      EXPECT_FALSE(d.never);
      events.push_back({now, static_cast<std::int64_t>(cost)});
      if (rng() % 3 == 0) refundable.emplace_back(events.size() - 1, d, cost);
      if (p.algorithm() == rate_algorithm::fixed_window &&
          (fixed_starts.empty() || fixed_starts.back() != d.stamp))
        fixed_starts.push_back(d.stamp);
    } else if (!d.never) {
      EXPECT_GT(d.retry_after.count(), 0);
    }
  }

  const auto L = static_cast<std::int64_t>(p.limit());
  switch (p.algorithm()) {
    case rate_algorithm::sliding_window_log:
      EXPECT_LE(max_in_interval(events, w), L);
      break;
    case rate_algorithm::sliding_window_counter:
      EXPECT_LE(max_in_interval(events, w), 2 * L);
      break;
    case rate_algorithm::fixed_window: {
      // Per window (from its first request): at most L.
      for (auto s : fixed_starts) {
        std::int64_t sum = 0;
        for (auto& e : events)
          if (e.t >= s && e.t < s + w) sum += e.units;
        EXPECT_LE(sum, L);
      }
      EXPECT_LE(max_in_interval(events, w), 2 * L);
      break;
    }
    case rate_algorithm::token_bucket:
    case rate_algorithm::gcra: {
      // In any interval of length d: at most burst + d / T units.
      for (std::int64_t len : {t_unit, 5 * t_unit, w, 3 * w}) {
        EXPECT_LE(max_in_interval(events, len), L + len / t_unit) << "len " << len;
      }
      break;
    }
  }
}

TEST(rate_limit_store, property_invariants_every_algorithm) {
  for (std::uint32_t seed : {1u, 2u, 3u, 42u}) {
    check_invariants(rate_policy::fixed_window(rate::per_minute(10)), seed);
    check_invariants(rate_policy::sliding_window_log(rate::per_minute(10)), seed);
    check_invariants(rate_policy::sliding_window_counter(rate::per_minute(10)), seed);
    check_invariants(rate_policy::token_bucket(rate::per_second(2)).with_burst(5), seed);
    check_invariants(rate_policy::gcra(rate::per_second(3)).with_burst(4), seed);
  }
}

// After retry_after, the same request is allowed; one nanosecond before, not.
TEST(rate_limit_store, retry_after_is_exact) {
  std::mt19937 rng(7);
  for (auto p : {rate_policy::fixed_window(rate::per_minute(4)),
                 rate_policy::sliding_window_log(rate::per_minute(4)),
                 rate_policy::sliding_window_counter(rate::per_minute(4)),
                 rate_policy::token_bucket(rate::per_second(3)).with_burst(4),
                 rate_policy::gcra(rate::per_second(3)).with_burst(4)}) {
    SCOPED_TRACE(p.to_string());
    manual_clock clk;
    memory_rate_limit_store store{{}, clk};
    int checked = 0;
    for (int i = 0; i < 400; ++i) {
      clk.advance(nanoseconds{static_cast<std::int64_t>(rng() % (p.window().count() / 7))});
      const std::uint64_t cost = 1 + rng() % 2;
      auto d = store.consume_now("k", p, cost);
      if (d.allowed || d.never) continue;
      clk.advance(d.retry_after - 1ns);
      EXPECT_FALSE(store.consume_now("k", p, cost).allowed) << "early at i=" << i;
      clk.advance(1ns);
      EXPECT_TRUE(store.consume_now("k", p, cost).allowed) << "late at i=" << i;
      ++checked;
    }
    EXPECT_GT(checked, 20);
  }
}

// Refunds: only into the window the units came from, never below zero,
// never above the limit.
TEST(rate_limit_store, refunds_stay_within_what_was_spent) {
  manual_clock clk;
  memory_rate_limit_store store{{}, clk};
  auto fixed = rate_policy::fixed_window(rate::per_minute(3));
  auto a = store.consume_now("k", fixed, 1);
  store.consume_now("k", fixed, 1);
  store.refund_now("k", fixed, 1, a);
  EXPECT_EQ(store.consume_now("k", fixed, 1).remaining, 1u);

  // A refund twice as large as the units counted stops at zero.
  store.refund_now("k", fixed, 5, a);
  EXPECT_EQ(store.consume_now("k", fixed, 1).remaining, 2u);

  // A refund for the previous window does nothing to the new one.
  auto old = store.consume_now("k", fixed, 1);
  clk.advance(61s);
  store.consume_now("k", fixed, 3);
  store.refund_now("k", fixed, 1, old);
  EXPECT_FALSE(store.consume_now("k", fixed, 1).allowed);

  // Buckets never exceed their burst.
  for (auto p : {rate_policy::token_bucket(rate::per_second(1)).with_burst(3),
                 rate_policy::gcra(rate::per_second(1)).with_burst(3)}) {
    SCOPED_TRACE(p.to_string());
    auto d = store.consume_now("b", p, 1);
    clk.advance(10s);
    store.refund_now("b", p, 1, d);
    store.refund_now("b", p, 1, d);
    EXPECT_EQ(store.consume_now("b", p, 1).remaining, 2u);
    store.reset_now("b");
  }

  // The log refund removes the refunded entries, and only those.
  auto log = rate_policy::sliding_window_log(rate::per_minute(2));
  auto first = store.consume_now("l", log, 1);
  clk.advance(1s);
  store.consume_now("l", log, 1);
  store.refund_now("l", log, 1, first);
  auto third = store.consume_now("l", log, 1);
  EXPECT_TRUE(third.allowed);
  EXPECT_EQ(third.remaining, 0u);
  EXPECT_EQ(store.consume_now("l", log, 1).retry_after, 60s);
}

TEST(rate_limit_store, threads_never_exceed_the_limit_on_one_key) {
  for (auto p : {rate_policy::fixed_window(rate::per_minute(1000)),
                 rate_policy::sliding_window_log(rate::per_minute(1000)),
                 rate_policy::sliding_window_counter(rate::per_minute(1000)),
                 rate_policy::token_bucket(rate::per_minute(1000)),
                 rate_policy::gcra(rate::per_minute(1000))}) {
    SCOPED_TRACE(p.to_string());
    manual_clock clk;
    memory_rate_limit_store store{{.shards = 4}, clk};
    for (int round = 0; round < 3; ++round) {
      std::atomic<std::uint64_t> allowed{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
          for (int i = 0; i < 800; ++i) {
            if (store.consume_now("hot", p, 1 + (t + i) % 2).allowed)
              allowed.fetch_add(1 + (t + i) % 2);
          }
        });
      }
      for (auto& th : threads) th.join();
      // Exactly the limit: no unit lost, none granted twice.
      EXPECT_LE(allowed.load(), p.limit());
      EXPECT_GE(allowed.load(), p.limit() - 1);
      clk.advance(p.quota_period() * 2);
    }
  }
}

TEST(rate_limit_store, async_form_and_reset) {
  manual_clock clk;
  memory_rate_limit_store store{{}, clk};
  auto p = rate_policy::fixed_window(rate::per_minute(1));
  EXPECT_TRUE(store.synchronous());
  EXPECT_TRUE(store.consume_now("a", p, 1).allowed);
  EXPECT_FALSE(store.consume_now("a", p, 1).allowed);
  store.reset_now("a");
  EXPECT_TRUE(store.consume_now("a", p, 1).allowed);
  store.consume_now("b", p, 1);
  store.reset_all_now();
  EXPECT_EQ(store.size(), 0u);
  EXPECT_TRUE(store.consume_now("a", p, 1).allowed);
  EXPECT_TRUE(store.consume_now("b", p, 1).allowed);

  // The misuse registry: a prefix claimed twice is refused.
  EXPECT_TRUE(store.claim_prefix("api"));
  EXPECT_FALSE(store.claim_prefix("api"));
  store.release_prefix("api");
  EXPECT_TRUE(store.claim_prefix("api"));
}

TEST(rate_limit_store, base_class_refuses_the_sync_path) {
  class async_only final : public rate_limit_store {
   public:
    asio::awaitable<rate_decision> consume(std::string_view, const rate_policy&,
                                           std::uint64_t) override {
      co_return rate_decision{};
    }
    asio::awaitable<void> refund(std::string_view, const rate_policy&, std::uint64_t,
                                 const rate_decision&) override {
      co_return;
    }
    asio::awaitable<void> reset(std::string_view) override { co_return; }
    asio::awaitable<void> reset_all() override { co_return; }
  } s;
  EXPECT_FALSE(s.synchronous());
  EXPECT_THROW(s.consume_now("k", rate_policy::gcra(rate::per_second(1)), 1), std::logic_error);
}

}  // namespace
}  // namespace portcullis
