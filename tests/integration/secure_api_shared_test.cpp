// Two reference-server processes sharing their state over real HTTP: one
// PostgreSQL for API keys (a key made on A works on B; revoked on A, B
// refuses it within the documented bound) and one Redis for rate limits (N
// requests allowed in total across both; the Redis store's counters in
// /metrics). Needs PORTCULLIS_PG_URL / PORTCULLIS_REDIS_URL; skipped without
// them, failed without them when PORTCULLIS_REQUIRE_SERVICES is set.
#include "support/reference_server.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>

namespace portcullis {
namespace {

using test::reference_server;
using json = nlohmann::json;
namespace bh = boost::beast::http;
using namespace std::chrono_literals;

// A pepper file of `bytes` random bytes, removed with the object.
struct pepper_file {
  explicit pepper_file(std::size_t bytes) {
    char name[] = "/tmp/portcullis-pepper-XXXXXX";
    int fd = mkstemp(name);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    close(fd);
    path = name;
    std::random_device rd;
    std::string secret;
    for (std::size_t i = 0; i < bytes; ++i) secret.push_back(static_cast<char>(rd()));
    std::ofstream(path, std::ios::binary) << secret;
  }
  ~pepper_file() { std::remove(path.c_str()); }
  std::string path;
};

// The value of counter `name` with label name="`instance`" in a /metrics
// page, or -1 when absent.
long counter_in(const std::string& page, const std::string& name, const std::string& instance) {
  const std::string sample = name + "{name=\"" + instance + "\"} ";
  auto at = page.find(sample);
  if (at == std::string::npos) return -1;
  return std::stol(page.substr(at + sample.size()));
}

// Signs up and logs in on `srv`; returns "Bearer sess_...".
std::string session_on(reference_server& srv, const std::string& email) {
  const auto creds = json{{"email", email}, {"password", "a long enough password"}}.dump();
  EXPECT_EQ(srv.request(bh::verb::post, "/users", creds).result(), bh::status::created);
  auto login = srv.request(bh::verb::post, "/auth/login", creds);
  EXPECT_EQ(login.result(), bh::status::ok) << login.body();
  return "Bearer " + json::parse(login.body())["token"].get<std::string>();
}

TEST(secure_api_shared, api_key_revoked_on_one_instance_is_refused_by_the_other) {
  PORTCULLIS_SERVICE_OR_SKIP(pg, "PORTCULLIS_PG_URL");  // fails instead in CI

  pepper_file pepper{48};
  json cfg = {{"threads", 1},
              {"stores", {{"api_keys", "postgres"}, {"postgres_url", pg}}},
              {"api_keys", {{"pepper_file", pepper.path}}}};
  reference_server a{cfg.dump()};
  reference_server b{cfg.dump()};

  // The key is made on A (users live in A's memory; keys in PostgreSQL).
  const std::string email = "shared-" + std::to_string(::getpid()) + "@example.com";
  const std::string session = session_on(a, email);
  auto created = a.request(bh::verb::post, "/api-keys", json{{"name", "fleet"}}.dump(),
                           {{"Authorization", session}});
  ASSERT_EQ(created.result(), bh::status::created) << created.body();
  const std::string key = json::parse(created.body())["key"];
  const std::string id = json::parse(created.body())["id"];

  // It works on both instances.
  EXPECT_EQ(a.request(bh::verb::get, "/items", "", {{"X-API-Key", key}}).result(), bh::status::ok);
  EXPECT_EQ(b.request(bh::verb::get, "/items", "", {{"X-API-Key", key}}).result(), bh::status::ok);

  // An instance with another pepper cannot confirm it: the stored digest is
  // an HMAC under the pepper, not a plain hash of the key.
  pepper_file other{48};
  cfg["api_keys"]["pepper_file"] = other.path;
  {
    reference_server c{cfg.dump()};
    EXPECT_EQ(c.request(bh::verb::get, "/items", "", {{"X-API-Key", key}}).result(),
              bh::status::unauthorized);
  }

  // Revoked on A: refused on A at once, and on B within the documented
  // bound (one second, through LISTEN/NOTIFY; docs/secure-api.md).
  ASSERT_EQ(
      a.request(bh::verb::delete_, "/api-keys/" + id, "", {{"Authorization", session}}).result(),
      bh::status::no_content);
  EXPECT_EQ(a.request(bh::verb::get, "/items", "", {{"X-API-Key", key}}).result(),
            bh::status::unauthorized);
  const auto revoked_at = std::chrono::steady_clock::now();
  bh::status on_b = bh::status::ok;
  while (std::chrono::steady_clock::now() - revoked_at < 3s) {
    on_b = b.request(bh::verb::get, "/items", "", {{"X-API-Key", key}}).result();
    if (on_b == bh::status::unauthorized) break;
    std::this_thread::sleep_for(20ms);
  }
  const auto took = std::chrono::steady_clock::now() - revoked_at;
  EXPECT_EQ(on_b, bh::status::unauthorized) << "B still accepts a key revoked on A";
  EXPECT_LT(took, 1s) << "B saw the revocation after "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms";
}

TEST(secure_api_shared, two_instances_on_one_redis_enforce_one_limit) {
  PORTCULLIS_SERVICE_OR_SKIP(redis, "PORTCULLIS_REDIS_URL");  // fails instead in CI

  // A prefix of this run's own, so that counts left by an earlier run
  // (keys live for their window) do not leak in.
  const std::string prefix = "portcullis:test:" + std::to_string(::getpid()) + ":" +
                             std::to_string(std::random_device{}()) + ":";
  json cfg = {{"threads", 2},
              {"trusted_proxies", {"127.0.0.1/32"}},
              {"stores",
               {{"rate_limit", "redis"},
                {"redis_url", redis},
                {"redis_prefix", prefix},
                {"rate_limit_on_error", "closed"}}},
              {"rate_limits", {{"api", {{"limit", 10}, {"window_seconds", 60}}}}}};
  reference_server a{cfg.dump()};
  reference_server b{cfg.dump()};

  // 30 requests from one client (behind the trusted proxy), alternating
  // between the instances: exactly 10 pass in total.
  int allowed = 0, limited = 0, allowed_a = 0, allowed_b = 0;
  for (int i = 0; i < 30; ++i) {
    auto& srv = i % 2 == 0 ? a : b;
    auto res = srv.request(bh::verb::get, "/items", "", {{"X-Forwarded-For", "203.0.113.77"}});
    if (res.result() == bh::status::ok) {
      ++allowed;
      (i % 2 == 0 ? allowed_a : allowed_b)++;
      EXPECT_EQ(std::string(res["RateLimit"]).find("remaining=" + std::to_string(10 - allowed)),
                std::string(res["RateLimit"]).find("remaining="))
          << "the shared count: " << res["RateLimit"];
    } else {
      EXPECT_EQ(res.result(), bh::status::too_many_requests) << res.body();
      EXPECT_FALSE(res[bh::field::retry_after].empty());
      ++limited;
    }
  }
  EXPECT_EQ(allowed, 10);
  EXPECT_EQ(limited, 20);
  EXPECT_EQ(allowed_a, 5);
  EXPECT_EQ(allowed_b, 5);

  // The Redis store's counters are in /metrics (asked from loopback itself,
  // a client of its own): every decision was a round trip, none failed, and
  // the pool connected.
  auto metrics = a.request(bh::verb::get, "/metrics");
  ASSERT_EQ(metrics.result(), bh::status::ok);
  auto value_of = [&](const std::string& name) {
    return counter_in(metrics.body(), name, "redis");
  };
  EXPECT_GE(value_of("portcullis_redis_store_calls_total"), 15) << metrics.body();
  EXPECT_EQ(value_of("portcullis_redis_store_errors_total"), 0);
  EXPECT_GE(value_of("portcullis_redis_store_connects_total"), 1);
}

TEST(secure_api_shared, redis_down_follows_the_configured_policy) {
  // A port where nothing listens: every call fails at once.
  for (auto [policy, status] :
       {std::pair{"open", bh::status::ok}, std::pair{"closed", bh::status::service_unavailable}}) {
    SCOPED_TRACE(policy);
    json cfg = {{"threads", 1},
                {"stores",
                 {{"rate_limit", "redis"},
                  {"redis_url", "redis://127.0.0.1:1"},
                  {"rate_limit_on_error", policy}}}};
    reference_server srv{cfg.dump()};
    auto res = srv.request(bh::verb::get, "/items");
    EXPECT_EQ(res.result(), status) << res.body();
    if (status == bh::status::service_unavailable) {
      EXPECT_EQ(json::parse(res.body())["error"], "rate limiter unavailable");
      EXPECT_EQ(res[bh::field::retry_after], "1");
    }
    // /metrics is never limited, so it answers while Redis is down: the
    // request was let through (or refused) uncounted, once, and the store
    // counted its failure.
    auto metrics = srv.request(bh::verb::get, "/metrics");
    ASSERT_EQ(metrics.result(), bh::status::ok) << metrics.body();
    const auto page = metrics.body();
    const std::string counted = std::string("portcullis_rate_limit_failed_") + policy + "_total";
    EXPECT_EQ(counter_in(page, counted, "api"), 1) << page;
    EXPECT_GE(counter_in(page, "portcullis_redis_store_errors_total", "redis"), 1) << page;
  }
}

}  // namespace
}  // namespace portcullis
