#include "portcullis/counters.hpp"

#include "portcullis/errc.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace portcullis {
namespace {

TEST(counters, named_counters_add_and_read) {
  counter_set c{"rate_limit", "api", {"allowed", "limited"}};
  c.add(0);
  c.add(1, 5);
  EXPECT_EQ(c.value("allowed"), 1u);
  EXPECT_EQ(c.value("limited"), 5u);
  EXPECT_THROW(c.value("nope"), std::out_of_range);
  EXPECT_THROW((counter_set{"Rate", "x", {"a"}}), config_error);
  EXPECT_THROW((counter_set{"r", "x", {"a", "a"}}), config_error);
  EXPECT_THROW((counter_set{"r", "x", {"a-b"}}), config_error);
}

TEST(counters, exact_under_threads) {
  counter_set c{"t", "t", {"n"}};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&c] {
      for (int i = 0; i < 100000; ++i) c.add(0);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value("n"), 400000u);
}

TEST(counters, prometheus_text_format) {
  counter_set a{"rate_limit", "api", {"allowed", "limited"}};
  counter_set b{"rate_limit", "lo\"gin", {"allowed", "limited"}};
  a.add(0, 3);
  b.add(1);
  std::string out;
  const counter_set* sets[] = {&a, &b};
  write_prometheus(out, sets);
  EXPECT_EQ(out,
            "# TYPE portcullis_rate_limit_allowed_total counter\n"
            "portcullis_rate_limit_allowed_total{name=\"api\"} 3\n"
            "portcullis_rate_limit_allowed_total{name=\"lo\\\"gin\"} 0\n"
            "# TYPE portcullis_rate_limit_limited_total counter\n"
            "portcullis_rate_limit_limited_total{name=\"api\"} 0\n"
            "portcullis_rate_limit_limited_total{name=\"lo\\\"gin\"} 1\n");
}

}  // namespace
}  // namespace portcullis
