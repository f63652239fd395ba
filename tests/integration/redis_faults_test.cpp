// The Redis store when Redis misbehaves: stopped mid-load, restarted, its
// script cache flushed, slowed down (DEBUG SLEEP), frozen (SIGSTOP). Each
// test runs a redis-server of its own, which it kills and restarts.
#include "portcullis/redis/rate_limit_store.hpp"

#include "portcullis/errc.hpp"
#include "portcullis/timeout.hpp"
#include "support/rate_limit_suite.hpp"
#include "support/redis_process.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <thread>

namespace portcullis {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;  // tests measure real latency

// Options for a store on `r` with short timeouts; each test names the two
// that its fault is about.
redis_store_options fault_options(const test::redis_process& r,
                                  std::chrono::milliseconds call_timeout = 200ms,
                                  std::chrono::milliseconds stall_timeout = 1s) {
  redis_store_options o;
  o.server = redis_options::parse_url(r.url());
  o.server.call_timeout = call_timeout;
  o.server.connect_timeout = 300ms;
  o.server.stall_timeout = stall_timeout;
  o.server.reconnect_min = 20ms;
  o.server.reconnect_max = 200ms;
  o.server.log = logger(std::make_shared<null_sink>(), log_level::off);
  o.prefix = "fault:";
  return o;
}

// What a burst of load saw.
struct load_report {
  std::atomic<std::uint64_t> ok{0}, unavailable{0}, timeout{0}, other{0};
  std::atomic<std::int64_t> worst_us{0};
  std::atomic<std::int64_t> last_ok_us{0};
};

// `clients` coroutines call consume() until `stop`, recording outcomes and
// the slowest call.
void run_load(rate_limit_store& store, const rate_policy& policy, int clients,
              std::atomic<bool>& stop, load_report& rep) {
  asio::io_context io;
  const auto start = steady::now();
  for (int c = 0; c < clients; ++c) {
    asio::co_spawn(
        io,
        [&, c]() -> asio::awaitable<void> {
          asio::steady_timer pause(co_await asio::this_coro::executor);
          while (!stop.load()) {
            const auto t0 = steady::now();
            bool failed = false;
            try {
              co_await store.consume("load" + std::to_string(c % 4), policy, 1);
              ++rep.ok;
              rep.last_ok_us =
                  std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - start)
                      .count();
            } catch (const std::system_error& e) {
              if (e.code() == errc::store_unavailable)
                ++rep.unavailable;
              else if (e.code() == errc::store_timeout)
                ++rep.timeout;
              else
                ++rep.other;
              failed = true;
            }
            const auto us =
                std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0).count();
            if (failed) {
              // Failing calls return at once; do not spin the CPU on them.
              pause.expires_after(2ms);
              co_await pause.async_wait(asio::use_awaitable);
            }
            std::int64_t seen = rep.worst_us.load();
            while (us > seen && !rep.worst_us.compare_exchange_weak(seen, us)) {
            }
          }
        },
        [](std::exception_ptr) {});
  }
  io.run();
}

TEST(redis_faults, redis_stopped_mid_load_fails_fast_then_recovers_without_a_restart) {
  test::redis_process r;
  redis_rate_limit_store store{fault_options(r)};
  ASSERT_TRUE(store.wait_ready(5s));
  const auto policy = rate_policy::fixed_window(rate::per(1'000'000, 10min));

  std::atomic<bool> stop{false};
  load_report rep;
  std::thread load([&] { run_load(store, policy, 16, stop, rep); });

  std::this_thread::sleep_for(300ms);
  const auto ok_before = rep.ok.load();
  EXPECT_GT(ok_before, 0u);
  r.kill();  // a crash: connections reset, nothing answers
  std::this_thread::sleep_for(600ms);
  const auto failed_during = rep.unavailable.load() + rep.timeout.load();
  const auto ok_during = rep.ok.load();
  r.start();  // same port, empty data

  // Recovers by itself: calls succeed again within a few backoff rounds.
  bool recovered = false;
  for (int i = 0; i < 300 && !recovered; ++i) {
    std::this_thread::sleep_for(10ms);
    recovered = rep.ok.load() > ok_during + 100;
  }
  stop = true;
  load.join();

  EXPECT_GT(failed_during, 0u);
  EXPECT_TRUE(recovered) << "ok=" << rep.ok << " unavailable=" << rep.unavailable
                         << " timeout=" << rep.timeout;
  EXPECT_EQ(rep.other.load(), 0u);
  // No call waited longer than the call timeout (plus scheduling slack).
  EXPECT_LT(rep.worst_us.load(), 200'000 + 150'000);
  EXPECT_GE(store.counters().value("connects"), 2u);
  EXPECT_GE(store.counters().value("disconnects"), 1u);
  EXPECT_EQ(store.counters().value("errors"),
            store.counters().value("unavailable") + store.counters().value("timeouts"));
}

TEST(redis_faults, script_flush_reloads_each_call_of_the_burst_once) {
  test::redis_process r;
  redis_rate_limit_store store{fault_options(r, 2s, 5s)};
  ASSERT_TRUE(store.wait_ready(5s));
  const auto policy = rate_policy::fixed_window(rate::per(1000, 10min));
  EXPECT_TRUE(test::consume_blocking(store, "k", policy).allowed);

  for (int round = 0; round < 3; ++round) {
    r.cli({"SCRIPT", "FLUSH"});
    const auto reloads_before = store.counters().value("script_reloads");
    // A pipelined burst: every EVALSHA in it meets the empty cache.
    asio::io_context io;
    std::atomic<int> allowed{0}, failed{0};
    for (int i = 0; i < 100; ++i)
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            if ((co_await store.consume("k", policy, 1)).allowed) ++allowed;
          },
          [&](std::exception_ptr e) {
            if (e) ++failed;
          });
    io.run();
    EXPECT_EQ(allowed.load(), 100);
    EXPECT_EQ(failed.load(), 0);
    const auto reloads = store.counters().value("script_reloads") - reloads_before;
    EXPECT_GE(reloads, 1u);
    EXPECT_LE(reloads, 100u);
  }
  // Each call counted exactly once: 1 + 3 x 100 taken.
  EXPECT_EQ(test::consume_blocking(store, "k", policy).remaining, 1000u - 302u);
  EXPECT_EQ(store.counters().value("errors"), 0u);
}

TEST(redis_faults, a_slow_redis_times_calls_out_and_nothing_hangs) {
  test::redis_process r({"--enable-debug-command", "local"});
  // DEBUG SLEEP is slowness, not a dead socket
  redis_rate_limit_store store{fault_options(r, 100ms, 5s)};
  ASSERT_TRUE(store.wait_ready(5s));
  const auto policy = rate_policy::gcra(rate::per_second(1000)).with_burst(1000);
  EXPECT_TRUE(test::consume_blocking(store, "k", policy).allowed);

  std::thread sleeper([&] { r.cli({"DEBUG", "SLEEP", "1"}); });
  std::this_thread::sleep_for(150ms);

  asio::io_context io;
  std::atomic<int> timeouts{0}, other{0};
  std::atomic<std::int64_t> worst{0};
  for (int i = 0; i < 20; ++i)
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          const auto t0 = steady::now();
          try {
            co_await store.consume("k", policy, 1);
            ++other;
          } catch (const std::system_error& e) {
            if (e.code() == errc::store_timeout)
              ++timeouts;
            else
              ++other;
          }
          const auto ms =
              std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count();
          if (ms > worst) worst = ms;
        },
        [](std::exception_ptr) {});
  io.run();
  EXPECT_EQ(timeouts.load(), 20);
  EXPECT_EQ(other.load(), 0);
  EXPECT_LT(worst.load(), 100 + 150);
  EXPECT_GE(store.counters().value("timeouts"), 20u);

  sleeper.join();
  // The same connection serves again once Redis wakes up.
  EXPECT_TRUE(test::consume_blocking(store, "k", policy).allowed);
  EXPECT_EQ(store.counters().value("stalls"), 0u);
}

TEST(redis_faults, a_frozen_redis_is_dropped_after_the_stall_timeout_and_recovers) {
  test::redis_process r;
  redis_rate_limit_store store{fault_options(r, 100ms, 400ms)};
  ASSERT_TRUE(store.wait_ready(5s));
  const auto policy = rate_policy::fixed_window(rate::per(100000, 10min));
  EXPECT_TRUE(test::consume_blocking(store, "k", policy).allowed);

  r.pause();  // SIGSTOP: the socket stays open, nothing answers
  const auto t0 = steady::now();
  int failures = 0;
  while (steady::now() - t0 < 1200ms) {
    const auto c0 = steady::now();
    EXPECT_THROW(test::consume_blocking(store, "k", policy), std::system_error);
    EXPECT_LT(steady::now() - c0, 250ms);
    ++failures;
  }
  EXPECT_GE(store.counters().value("stalls"), 1u);
  r.resume();

  bool recovered = false;
  for (int i = 0; i < 300 && !recovered; ++i) {
    try {
      recovered = test::consume_blocking(store, "k", policy).allowed;
    } catch (const std::system_error&) {
      std::this_thread::sleep_for(10ms);
    }
  }
  EXPECT_TRUE(recovered);
  EXPECT_GT(failures, 3);
}

TEST(redis_faults, with_deadline_cancels_a_call_sooner_than_its_timeout) {
  test::redis_process r;
  redis_rate_limit_store store{fault_options(r, 2s, 5s)};
  ASSERT_TRUE(store.wait_ready(5s));
  const auto policy = rate_policy::fixed_window(rate::per(10, 10min));
  r.pause();
  const auto t0 = steady::now();
  try {
    test::run_store_call(with_deadline(store.consume("k", policy, 1), 50ms, errc::store_timeout));
    ADD_FAILURE() << "a frozen Redis answered";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), errc::store_timeout);
  }
  EXPECT_LT(steady::now() - t0, 500ms);
  r.resume();
  EXPECT_TRUE(test::consume_blocking(store, "k", policy).allowed);
}

}  // namespace
}  // namespace portcullis
