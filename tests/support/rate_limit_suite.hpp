// The decision sequences of ../shared/cases/ratelimit/sequences.json, run
// against any rate_limit_store. The memory store's unit tests and the Redis
// store's integration tests both call check_every_sequence_case, so that
// one suite decides what every store must answer.
#pragma once

#include "portcullis/clock.hpp"
#include "portcullis/rate_limit_store.hpp"
#include "support/cases.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace portcullis::test {

/// Retry-After as the middleware writes it: whole seconds, rounded up, at
/// least 1.
inline std::int64_t whole_seconds_up(std::chrono::nanoseconds d) {
  return std::max<std::int64_t>(1, (d.count() + 999'999'999) / 1'000'000'000);
}

/// The policy a case describes in plain terms.
inline rate_policy policy_of_case(const nlohmann::json& c) {
  const auto algorithm = parse_rate_algorithm(c.at("algorithm").get<std::string>());
  if (algorithm == rate_algorithm::gcra)
    return rate_policy::gcra(rate::per_second(c.at("rate_per_s").get<std::uint64_t>()))
        .with_burst(c.at("burst").get<std::uint64_t>());
  if (algorithm == rate_algorithm::token_bucket)
    return rate_policy::token_bucket(rate::per_second(c.at("refill_per_s").get<std::uint64_t>()))
        .with_burst(c.at("capacity").get<std::uint64_t>());
  return rate_policy::make(algorithm, rate::per(c.at("limit").get<std::uint64_t>(),
                                                std::chrono::seconds(c.at("window_s").get<int>())));
}

/// Runs one asynchronous store call to completion on a private io_context.
template <typename T>
T run_store_call(asio::awaitable<T> call) {
  asio::io_context io;
  auto f = asio::co_spawn(io, std::move(call), asio::use_future);
  io.run();
  return f.get();
}

inline rate_decision consume_blocking(rate_limit_store& store, std::string_view key,
                                      const rate_policy& policy, std::uint64_t cost = 1) {
  if (store.synchronous()) return store.consume_now(key, policy, cost);
  return run_store_call(store.consume(key, policy, cost));
}

/// Builds a fresh store whose decisions follow `clk`.
using store_factory = std::function<std::unique_ptr<rate_limit_store>(manual_clock& clk)>;

/// Every case of ratelimit/sequences.json against stores made by `make`
/// (one store and one clock per case; keys are `key_prefix` + the case id).
inline void check_every_sequence_case(const store_factory& make,
                                      const std::string& key_prefix = "") {
  auto file = load_cases("ratelimit/sequences.json");
  expect_case_ids(file.at("cases"),
                  {"fixed-window-edge", "sliding-log-denied-not-counted", "gcra-burst",
                   "token-bucket-fractional-wait", "sliding-counter-weighting",
                   "cost-larger-than-remaining", "cost-above-limit"});
  for (const auto& c : file.at("cases")) {
    const std::string id = c.at("id").get<std::string>();
    SCOPED_TRACE(id);
    manual_clock clk;
    auto store = make(clk);
    const rate_policy policy = policy_of_case(c);
    policy.validate("test");
    const std::string key = key_prefix + id;
    const auto start = clk.now();
    for (const auto& step : c.at("steps")) {
      const auto at = start + std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::duration<double>(step.at("t").get<double>()));
      ASSERT_GE(at, clk.now());
      clk.advance(at - clk.now());
      const int repeat = step.value("repeat", 1);
      for (int i = 0; i < repeat; ++i) {
        SCOPED_TRACE("t=" + step.at("t").dump() + " #" + std::to_string(i));
        auto d = consume_blocking(*store, key, policy, step.value("cost", 1));
        EXPECT_EQ(d.allowed, step.at("allowed").get<bool>());
        if (step.contains("remaining"))
          EXPECT_EQ(d.remaining, step.at("remaining").get<std::uint64_t>());
        if (step.contains("retry_after_s"))
          EXPECT_EQ(whole_seconds_up(d.retry_after), step.at("retry_after_s").get<std::int64_t>());
        EXPECT_EQ(d.never, step.value("never", false));
        EXPECT_LE(d.remaining, d.limit);
        EXPECT_GE(d.reset.count(), 0);
        if (d.allowed) EXPECT_EQ(d.retry_after.count(), 0);
      }
    }
  }
}

}  // namespace portcullis::test
