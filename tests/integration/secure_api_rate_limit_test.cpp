// The reference server's rate limits over real HTTP, at the window edges:
// the last allowed request, the first denied one (429 with Retry-After and
// the RateLimit fields), and the first after the window. Short windows come
// from the configuration ("rate_limits"), so the test waits seconds, not
// minutes, on the real clock. The memory store's bound (stores.memory_max_keys)
// under a flood of distinct clients.
#include "support/reference_server.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <thread>

namespace portcullis {
namespace {

using test::reference_server;
using json = nlohmann::json;
namespace bh = boost::beast::http;
using namespace std::chrono_literals;

// The draft-7 `RateLimit: limit=3, remaining=2, reset=3` as numbers.
struct rate_fields {
  long limit = -1;
  long remaining = -1;
  long reset = -1;
};

rate_fields fields_of(const test::http_response& res) {
  rate_fields f;
  std::string v{res["RateLimit"]};
  auto number_after = [&](const std::string& name) -> long {
    auto at = v.find(name + "=");
    if (at == std::string::npos) return -1;
    return std::stol(v.substr(at + name.size() + 1));
  };
  f.limit = number_after("limit");
  f.remaining = number_after("remaining");
  f.reset = number_after("reset");
  return f;
}

// Sleeps until `seconds` whole seconds after `since`, plus a margin for the
// rounding up that Retry-After does (it is never early, so a client that
// waits it out is allowed).
void wait_out(std::chrono::steady_clock::time_point since, long seconds) {
  std::this_thread::sleep_until(since + std::chrono::seconds(seconds) + 100ms);
}

TEST(secure_api_rate_limit, fixed_window_edges_over_http) {
  reference_server srv{R"({"threads": 1,
                           "rate_limits": {"api": {"limit": 3, "window_seconds": 3}}})"};

  // The window starts at the first request; three fit in it.
  for (long i = 1; i <= 3; ++i) {
    auto res = srv.request(bh::verb::get, "/items");
    ASSERT_EQ(res.result(), bh::status::ok) << "request " << i << ": " << res.body();
    EXPECT_EQ(res["RateLimit-Policy"], "3;w=3");
    auto f = fields_of(res);
    EXPECT_EQ(f.limit, 3);
    EXPECT_EQ(f.remaining, 3 - i) << "request " << i;
    EXPECT_GE(f.reset, 1);
    EXPECT_LE(f.reset, 3);
    EXPECT_EQ(res.count(bh::field::retry_after), 0u) << "only on a 429";
  }

  // The fourth is the first denied: 429 JSON, Retry-After equal to the
  // draft's reset, both within the window.
  auto denied = srv.request(bh::verb::get, "/items");
  auto denied_at = std::chrono::steady_clock::now();
  ASSERT_EQ(denied.result(), bh::status::too_many_requests);
  EXPECT_EQ(json::parse(denied.body())["error"], "too many requests");
  EXPECT_EQ(denied[bh::field::content_type], "application/json");
  EXPECT_EQ(denied["RateLimit-Policy"], "3;w=3");
  auto f = fields_of(denied);
  EXPECT_EQ(f.limit, 3);
  EXPECT_EQ(f.remaining, 0);
  long retry_after = std::stol(std::string(denied[bh::field::retry_after]));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 3);
  EXPECT_EQ(f.reset, retry_after) << "Retry-After is never earlier than the draft's reset";

  // A denial is not counted: hammering does not extend the lockout.
  auto again = srv.request(bh::verb::get, "/items");
  EXPECT_EQ(again.result(), bh::status::too_many_requests);
  EXPECT_LE(std::stol(std::string(again[bh::field::retry_after])), retry_after);

  // Health is never limited, even now.
  EXPECT_EQ(srv.request(bh::verb::get, "/health").result(), bh::status::ok);

  // Waiting out Retry-After opens a new window with the whole quota.
  wait_out(denied_at, retry_after);
  auto after = srv.request(bh::verb::get, "/items");
  ASSERT_EQ(after.result(), bh::status::ok) << after.body();
  auto a = fields_of(after);
  EXPECT_EQ(a.remaining, 2);
  EXPECT_EQ(a.reset, 3) << "a fresh window of 3 s";
}

TEST(secure_api_rate_limit, login_limit_counts_only_failures_over_http) {
  reference_server srv{R"({"threads": 2,
                           "rate_limits": {"login": {"limit": 2, "window_seconds": 3}}})"};
  const std::string email = "limit-" + std::to_string(::getpid()) + "@example.com";
  const std::string good = json{{"email", email}, {"password", "a long enough password"}}.dump();
  const std::string bad = json{{"email", email}, {"password", "not the password"}}.dump();
  ASSERT_EQ(srv.request(bh::verb::post, "/users", good).result(), bh::status::created);

  // Successful logins are refunded: more of them than the limit all pass.
  for (int i = 0; i < 3; ++i) {
    auto ok = srv.request(bh::verb::post, "/auth/login", good);
    ASSERT_EQ(ok.result(), bh::status::ok) << "success " << i << ": " << ok.body();
  }

  // Two failures fit; the third attempt is refused before the password is
  // checked, even with the right one.
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(srv.request(bh::verb::post, "/auth/login", bad).result(), bh::status::unauthorized);
  auto locked = srv.request(bh::verb::post, "/auth/login", good);
  auto locked_at = std::chrono::steady_clock::now();
  ASSERT_EQ(locked.result(), bh::status::too_many_requests) << locked.body();
  long retry_after = std::stol(std::string(locked[bh::field::retry_after]));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 3);

  // The key is IP + e-mail: another account from the same address is not
  // locked out.
  auto other = srv.request(bh::verb::post, "/auth/login",
                           json{{"email", "someone-else@example.com"}, {"password", "x"}}.dump());
  EXPECT_EQ(other.result(), bh::status::unauthorized);

  // After Retry-After the oldest failure has left the window.
  wait_out(locked_at, retry_after);
  auto back = srv.request(bh::verb::post, "/auth/login", good);
  EXPECT_EQ(back.result(), bh::status::ok) << back.body();
}

// The sample `name{name="rate_limit"} V` of a /metrics page, or -1.
long memory_store_metric(const std::string& page, const std::string& name) {
  const std::string sample = name + "{name=\"rate_limit\"} ";
  auto at = page.find(sample);
  return at == std::string::npos ? -1 : std::stol(page.substr(at + sample.size()));
}

TEST(secure_api_rate_limit, memory_store_stays_within_memory_max_keys_over_http) {
  // 127.0.0.1 is the trusted proxy, so each X-Forwarded-For is a client of
  // its own: one key each in the api limiter.
  reference_server srv{R"({"threads": 1, "trusted_proxies": ["127.0.0.1/32"],
                           "stores": {"rate_limit": "memory", "memory_max_keys": 64}})"};
  auto before = srv.request(bh::verb::get, "/metrics");
  ASSERT_EQ(before.result(), bh::status::ok) << before.body();
  const long capacity = memory_store_metric(before.body(), "portcullis_memory_store_capacity");
  // 64 rounded up to a multiple of the shards (16 per hardware thread).
  ASSERT_GE(capacity, 64) << before.body();
  EXPECT_EQ(capacity % 16, 0);
  EXPECT_EQ(memory_store_metric(before.body(), "portcullis_memory_store_evictions_total"), 0);

  // More distinct clients than the store may hold: every one is allowed
  // (a new key has a full quota) and the oldest make room.
  const long clients = capacity + 100;
  for (long i = 0; i < clients; ++i) {
    const auto address = "10.9." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    auto res = srv.request(bh::verb::get, "/items", "", {{"X-Forwarded-For", address}});
    ASSERT_EQ(res.result(), bh::status::ok) << address << ": " << res.body();
  }

  // Keys held never exceed the bound, and every key beyond it was evicted
  // (the windows are 15 minutes: none expired). The /metrics reads are never
  // limited, so they made no key of their own.
  auto after = srv.request(bh::verb::get, "/metrics");
  ASSERT_EQ(after.result(), bh::status::ok) << after.body();
  const long keys = memory_store_metric(after.body(), "portcullis_memory_store_keys");
  const long evicted = memory_store_metric(after.body(), "portcullis_memory_store_evictions_total");
  EXPECT_LE(keys, capacity) << after.body();
  EXPECT_GE(evicted, clients - capacity) << after.body();
  EXPECT_EQ(keys + evicted, clients) << after.body();
}

}  // namespace
}  // namespace portcullis
