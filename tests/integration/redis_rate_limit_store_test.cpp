// The Redis rate-limit store against real servers: the single Redis and the
// three-master cluster that scripts/test starts (PORTCULLIS_REDIS_URL,
// PORTCULLIS_REDIS_CLUSTER), and servers of its own where a test needs a
// particular configuration (a password, a database).
#include "portcullis/redis/rate_limit_store.hpp"

#include "portcullis/detail/redis_hash.hpp"
#include "portcullis/errc.hpp"
#include "portcullis/memory_rate_limit_store.hpp"
#include "support/rate_limit_suite.hpp"
#include "support/redis_process.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <thread>

namespace portcullis {
namespace {

using namespace std::chrono_literals;
using redis::detail::hash_slot;

// A prefix no other test run shares, so that runs never see each other's keys.
std::string unique_prefix(std::string_view what) {
  static std::atomic<int> n{0};
  std::random_device rd;
  return "pct:" + std::string(what) + ":" + std::to_string(getpid()) + ":" +
         std::to_string(rd() % 1000000) + ":" + std::to_string(n++) + ":";
}

redis_store_options options_for(const std::string& url, std::string_view what) {
  redis_store_options o;
  o.server = redis_options::parse_url(url);
  o.server.call_timeout = 2s;  // a loaded CI machine must not fail these on time
  o.server.stall_timeout = 5s;
  o.server.log = logger(std::make_shared<null_sink>(), log_level::off);
  o.prefix = unique_prefix(what);
  return o;
}

std::unique_ptr<redis_rate_limit_store> ready_store(redis_store_options o) {
  auto s = std::make_unique<redis_rate_limit_store>(std::move(o));
  EXPECT_TRUE(s->wait_ready(10s)) << "the store did not connect";
  return s;
}

// A log sink that keeps every line, to check what is (not) logged.
class recording_sink final : public log_sink {
 public:
  void write(log_level level, std::string_view event, std::span<const log_field> fields) override {
    std::lock_guard lock(mutex_);
    lines_.push_back(json_lines_sink::format(level, event, fields));
  }
  std::string all() {
    std::lock_guard lock(mutex_);
    std::string s;
    for (auto& l : lines_) s += l + "\n";
    return s;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

// -- Slots, digests and URLs (no server needed) -------------------------------

TEST(redis_hash, crc16_and_hash_slots_are_redis_clusters) {
  EXPECT_EQ(redis::detail::crc16("123456789"), 0x31C3);
  EXPECT_EQ(hash_slot("foo"), 12182u);  // CLUSTER KEYSLOT foo
  EXPECT_EQ(hash_slot("{user1000}.following"), hash_slot("{user1000}.followers"));
  EXPECT_EQ(redis::detail::hash_tag("foo{}{bar}"), "foo{}{bar}");
  EXPECT_EQ(redis::detail::hash_tag("foo{{bar}}zap"), "{bar");
  EXPECT_EQ(redis::detail::hash_tag("foo{bar}{zap}"), "bar");
  EXPECT_EQ(redis::detail::hash_tag("a{b"), "a{b");
}

TEST(redis_hash, sha1_matches_the_digest_redis_computes) {
  const std::string source = "return redis.call('TIME')";
  EXPECT_EQ(redis::detail::sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  test::redis_process r;
  EXPECT_EQ(r.cli({"SCRIPT", "LOAD", source}), redis::detail::sha1_hex(source) + "\n");
}

TEST(redis_options, parses_urls) {
  auto o = redis_options::parse_url("redis://lim%40iter:p%3Ass@10.0.0.5:6380/2");
  ASSERT_EQ(o.servers.size(), 1u);
  EXPECT_EQ(o.servers[0].host, "10.0.0.5");
  EXPECT_EQ(o.servers[0].port, 6380);
  EXPECT_EQ(o.username, "lim@iter");
  EXPECT_EQ(o.password, "p:ss");
  EXPECT_EQ(o.database, 2u);
  EXPECT_FALSE(o.cluster);

  o = redis_options::parse_url("redis://:secret@[::1]");
  EXPECT_EQ(o.servers[0].host, "::1");
  EXPECT_EQ(o.servers[0].port, 6379);
  EXPECT_EQ(o.servers[0].to_string(), "[::1]:6379");
  EXPECT_EQ(o.username, "");
  EXPECT_EQ(o.password, "secret");

  o = redis_options::parse_url("redis+cluster://127.0.0.1:7000,127.0.0.1:7001,localhost");
  EXPECT_TRUE(o.cluster);
  ASSERT_EQ(o.servers.size(), 3u);
  EXPECT_EQ(o.servers[2].host, "localhost");
}

TEST(redis_options, refuses_bad_urls_naming_the_part_and_never_the_password) {
  auto refuses = [](std::string_view url, std::string_view needle) {
    try {
      redis_options::parse_url(url);
      ADD_FAILURE() << url << " was accepted";
    } catch (const config_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    }
  };
  refuses("http://h", "redis://");
  refuses("rediss://h", "TLS");
  refuses("redis://h:0", "port");
  refuses("redis://h:99999", "port");
  refuses("redis://h:6379/x", "database");
  refuses("redis://a:1,b:2", "redis+cluster://");
  refuses("redis+cluster://a:1/3", "database must be 0");
  refuses("redis://:hunter2%zz@h", "password");
  refuses("redis://::1:6379", "brackets");
  refuses("redis://h?timeout=1", "query");
  refuses("redis://", "no host");

  redis_options o = redis_options::parse_url("redis://h");
  o.connections = 0;
  EXPECT_THROW(o.validate(), config_error);
  o.connections = 1;
  o.stall_timeout = 10ms;
  o.call_timeout = 100ms;
  EXPECT_THROW(o.validate(), config_error);

  redis_store_options so;
  so.server = redis_options::parse_url("redis://127.0.0.1:1");
  so.prefix = "";
  EXPECT_THROW(redis_rate_limit_store{so}, config_error);
}

// -- One suite for every store ------------------------------------------------

TEST(redis_rate_limit_store, every_sequence_case_on_redis) {
  PORTCULLIS_SERVICE_OR_SKIP(url, "PORTCULLIS_REDIS_URL");
  const auto prefix = unique_prefix("seq");
  test::check_every_sequence_case([&](manual_clock& clk) {
    auto o = options_for(url, "seq");
    o.prefix = prefix;
    o.decision_clock = &clk;
    return std::unique_ptr<rate_limit_store>(ready_store(std::move(o)));
  });
}

TEST(redis_rate_limit_store, every_sequence_case_on_a_cluster) {
  PORTCULLIS_SERVICE_OR_SKIP(seeds, "PORTCULLIS_REDIS_CLUSTER");
  const auto prefix = unique_prefix("seqc");
  test::check_every_sequence_case([&](manual_clock& clk) {
    auto o = options_for("redis+cluster://" + seeds, "seqc");
    o.prefix = prefix;
    o.decision_clock = &clk;
    return std::unique_ptr<rate_limit_store>(ready_store(std::move(o)));
  });
}

// Random traffic (consumes, refunds, time steps of whole microseconds) on
// one manual clock, decided by the memory store and by Redis side by side:
// every decision must agree.
TEST(redis_rate_limit_store, decides_as_the_memory_store_does_under_random_traffic) {
  PORTCULLIS_SERVICE_OR_SKIP(url, "PORTCULLIS_REDIS_URL");
  const rate_policy policies[] = {
      rate_policy::fixed_window(rate::per(7, 10s)),
      rate_policy::sliding_window_log(rate::per(6, 10s)),
      rate_policy::sliding_window_counter(rate::per(9, 10s)),
      rate_policy::token_bucket(rate::per(4, 2s)).with_burst(6),
      rate_policy::gcra(rate::per(5, 1s)).with_burst(3),
      rate_policy::gcra(rate::per(3, 1s)).with_burst(4),  // 333 333.3 µs per unit
  };
  for (const auto& policy : policies) {
    SCOPED_TRACE(policy.to_string());
    manual_clock clk;
    memory_rate_limit_store memory{{}, clk};
    auto o = options_for(url, "same");
    o.decision_clock = &clk;
    auto redis = ready_store(std::move(o));
    std::mt19937 rng(42);
    const std::string keys[] = {"a", "b"};
    struct taken_units {
      std::string key;
      rate_decision memory, redis;
    };
    std::vector<taken_units> taken;
    for (int i = 0; i < 600; ++i) {
      SCOPED_TRACE("step " + std::to_string(i));
      const auto step_us = rng() % 4 == 0 ? rng() % 3'000'000 : rng() % 300'000;
      clk.advance(std::chrono::microseconds(step_us));
      const std::string& key = keys[rng() % 2];
      if (!taken.empty() && rng() % 6 == 0) {
        // Each store gets back its own decision (stamps are each store's own).
        const auto& t = taken[rng() % taken.size()];
        memory.refund_now(t.key, policy, 1, t.memory);
        test::run_store_call(redis->refund(t.key, policy, 1, t.redis));
        continue;
      }
      const std::uint64_t cost = rng() % 5 == 0 ? 2 : 1;
      const auto m = memory.consume_now(key, policy, cost);
      const auto r = test::consume_blocking(*redis, key, policy, cost);
      ASSERT_EQ(m.allowed, r.allowed);
      ASSERT_EQ(m.never, r.never);
      ASSERT_EQ(m.limit, r.limit);
      ASSERT_EQ(m.remaining, r.remaining);
      // Redis keeps microseconds, the memory store nanoseconds.
      EXPECT_NEAR(m.reset.count(), r.reset.count(), 1000);
      EXPECT_NEAR(m.retry_after.count(), r.retry_after.count(), 1000);
      if (r.allowed) taken.push_back({key, m, r});
    }
  }
}

// -- Redis's clock, prefixes and TTLs ----------------------------------------

TEST(redis_rate_limit_store, reads_redis_time_and_gives_every_key_a_prefix_and_a_ttl) {
  PORTCULLIS_SERVICE_OR_SKIP(url, "PORTCULLIS_REDIS_URL");
  auto o = options_for(url, "ttl");
  const std::string prefix = o.prefix;
  auto store = ready_store(o);
  const auto port = o.server.servers[0].port;
  auto cli = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {
        "redis-cli",          "-h", o.server.servers[0].host,         "-p",
        std::to_string(port), "-n", std::to_string(o.server.database)};
    argv.insert(argv.end(), args.begin(), args.end());
    return test::run_program(argv);
  };

  const std::pair<std::string, rate_policy> cases[] = {
      {"fw", rate_policy::fixed_window(rate::per(5, 60s))},
      {"log", rate_policy::sliding_window_log(rate::per(5, 60s))},
      {"swc", rate_policy::sliding_window_counter(rate::per(5, 60s))},
      {"tb", rate_policy::token_bucket(rate::per(5, 60s))},
      {"gcra", rate_policy::gcra(rate::per(5, 60s))},
  };
  for (const auto& [name, policy] : cases) {
    SCOPED_TRACE(name);
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(test::consume_blocking(*store, name, policy).allowed);
    const auto denied = test::consume_blocking(*store, name, policy);
    EXPECT_FALSE(denied.allowed);
    EXPECT_GT(denied.retry_after, 0ns);
    // The counter may need part of the next window too.
    EXPECT_LE(denied.retry_after, name == "swc" ? 120s : 60s);
    EXPECT_GT(denied.reset, 0ns);
    EXPECT_LE(denied.reset, 120s);
    // The key lives under the prefix, and expires.
    const long pttl = std::stol(cli({"PTTL", prefix + name}));
    EXPECT_GT(pttl, 0);
    EXPECT_LE(pttl, 120'001);
  }
  // Nothing without a TTL under the prefix.
  const std::string keys = cli({"--scan", "--pattern", prefix + "*"});
  std::istringstream in(keys);
  int n = 0;
  for (std::string k; std::getline(in, k);) {
    ++n;
    EXPECT_NE(cli({"PTTL", k}), "-1\n") << k;
  }
  EXPECT_EQ(n, 5);
}

TEST(redis_rate_limit_store, refund_reset_and_reset_all) {
  PORTCULLIS_SERVICE_OR_SKIP(url, "PORTCULLIS_REDIS_URL");
  manual_clock clk;
  auto o = options_for(url, "reset");
  o.decision_clock = &clk;
  auto store = ready_store(o);
  auto other_o = options_for(url, "other");
  auto other = ready_store(other_o);
  const auto p = rate_policy::fixed_window(rate::per(3, 60s));

  auto d1 = test::consume_blocking(*store, "k", p);
  test::consume_blocking(*store, "k", p);
  EXPECT_EQ(test::consume_blocking(*store, "k", p).remaining, 0u);
  test::run_store_call(store->refund("k", p, 1, d1));
  EXPECT_TRUE(test::consume_blocking(*store, "k", p).allowed);  // the refunded unit
  EXPECT_FALSE(test::consume_blocking(*store, "k", p).allowed);

  // A refund into a window that has ended does nothing.
  clk.advance(61s);
  auto fresh = test::consume_blocking(*store, "k", p);
  EXPECT_EQ(fresh.remaining, 2u);
  test::run_store_call(store->refund("k", p, 1, d1));
  EXPECT_EQ(test::consume_blocking(*store, "k", p).remaining, 1u);

  // reset forgets one key; reset_all every key of this prefix only.
  test::run_store_call(store->reset("k"));
  EXPECT_EQ(test::consume_blocking(*store, "k", p).remaining, 2u);
  for (int i = 0; i < 50; ++i) test::consume_blocking(*store, "many" + std::to_string(i), p);
  EXPECT_EQ(test::consume_blocking(*other, "kept", p).remaining, 2u);
  test::run_store_call(store->reset_all());
  EXPECT_EQ(test::consume_blocking(*store, "k", p).remaining, 2u);
  EXPECT_EQ(test::consume_blocking(*store, "many7", p).remaining, 2u);
  EXPECT_EQ(test::consume_blocking(*other, "kept", p).remaining, 1u);
}

// -- Exact counts under concurrency -------------------------------------------

// `clients` coroutines on two threads, spread over two stores (two
// connections each), hammer one key; exactly `limit` units are allowed.
std::uint64_t allowed_under_load(const std::string& url, const rate_policy& policy,
                                 std::string_view what, int clients, int each) {
  auto o = options_for(url, what);
  o.server.connections = 2;
  auto a = ready_store(o);
  auto b = ready_store(o);  // same prefix: another "instance"
  asio::io_context io;
  std::atomic<std::uint64_t> allowed{0}, failed{0};
  for (int c = 0; c < clients; ++c) {
    rate_limit_store& s = c % 2 ? static_cast<rate_limit_store&>(*a) : *b;
    asio::co_spawn(
        io,
        [&s, &policy, &allowed, each]() -> asio::awaitable<void> {
          for (int i = 0; i < each; ++i)
            if ((co_await s.consume("hot", policy, 1)).allowed) ++allowed;
        },
        [&failed](std::exception_ptr e) {
          if (e) ++failed;
        });
  }
  std::thread t([&io] { io.run(); });
  io.run();
  t.join();
  EXPECT_EQ(failed.load(), 0u);
  EXPECT_EQ(a->counters().value("errors") + b->counters().value("errors"), 0u);
  return allowed.load();
}

TEST(redis_rate_limit_store, counts_exactly_under_concurrency) {
  PORTCULLIS_SERVICE_OR_SKIP(url, "PORTCULLIS_REDIS_URL");
  EXPECT_EQ(
      allowed_under_load(url, rate_policy::fixed_window(rate::per(500, 10min)), "cfw", 64, 30),
      500u);
  EXPECT_EQ(allowed_under_load(url, rate_policy::sliding_window_log(rate::per(300, 10min)), "clog",
                               64, 20),
            300u);
  EXPECT_EQ(
      allowed_under_load(url, rate_policy::gcra(rate::per_hour(1)).with_burst(400), "cg", 64, 20),
      400u);
  EXPECT_EQ(allowed_under_load(url, rate_policy::token_bucket(rate::per_hour(1)).with_burst(250),
                               "ctb", 64, 10),
            250u);
}

TEST(redis_rate_limit_store, counts_exactly_under_concurrency_on_a_cluster) {
  PORTCULLIS_SERVICE_OR_SKIP(seeds, "PORTCULLIS_REDIS_CLUSTER");
  EXPECT_EQ(allowed_under_load("redis+cluster://" + seeds,
                               rate_policy::fixed_window(rate::per(300, 10min)), "ccl", 32, 20),
            300u);
}

// -- Cluster: slots, MOVED, ASK -----------------------------------------------

TEST(redis_rate_limit_store, spreads_keys_over_the_cluster_by_slot) {
  PORTCULLIS_SERVICE_OR_SKIP(seeds, "PORTCULLIS_REDIS_CLUSTER");
  auto o = options_for("redis+cluster://" + seeds, "spread");
  auto store = ready_store(o);
  const auto p = rate_policy::fixed_window(rate::per(5, 60s));
  for (int i = 0; i < 60; ++i)
    EXPECT_TRUE(test::consume_blocking(*store, std::to_string(i), p).allowed);
  // Each key is on the node that owns its slot: asking that node directly
  // (redis-cli without -c follows no redirect) finds it.
  auto seeds_opts = redis_options::parse_url("redis+cluster://" + seeds);
  int found = 0;
  for (int i = 0; i < 60; ++i) {
    const std::string key = o.prefix + std::to_string(i);
    for (const auto& s : seeds_opts.servers) {
      const auto out = test::run_program(
          {"redis-cli", "-h", s.host, "-p", std::to_string(s.port), "EXISTS", key});
      if (out == "1\n") ++found;
    }
  }
  EXPECT_EQ(found, 60);
  EXPECT_EQ(store->counters().value("moved"), 0u);
}

// Moves one slot from one master to another by hand, as a resharding does:
// first the migration (keys not yet moved answer ASK), then the hand-over
// (MOVED). Runs on a cluster of its own, since it changes the slot map.
TEST(redis_rate_limit_store, follows_ask_and_moved_while_a_slot_migrates) {
  test::redis_cluster_process cluster;
  auto o = options_for("redis+cluster://" + cluster.seeds(), "mig");
  auto store = ready_store(o);
  const auto p = rate_policy::fixed_window(rate::per(10, 10min));

  auto id_of = [](test::redis_process& n) {
    auto s = n.cli({"CLUSTER", "MYID"});
    return s.substr(0, s.find('\n'));
  };
  // Pick the slot of some key and find its owner and another master.
  const std::string old_key = "old";
  const unsigned slot = hash_slot(o.prefix + old_key);
  int owner = -1;
  for (int i = 0; i < 3; ++i) {
    const auto nodes = cluster.node(i).cli({"CLUSTER", "NODES"});
    const auto me = nodes.find("myself");
    // The "myself" line lists the slots this node serves.
    const auto line_end = nodes.find('\n', me);
    const auto line_start =
        nodes.rfind('\n', me) == std::string::npos ? 0 : nodes.rfind('\n', me) + 1;
    std::istringstream line(nodes.substr(line_start, line_end - line_start));
    std::string field;
    for (int f = 0; line >> field; ++f) {
      if (f < 8) continue;
      const auto dash = field.find('-');
      const unsigned lo = std::stoul(field.substr(0, dash));
      const unsigned hi = dash == std::string::npos ? lo : std::stoul(field.substr(dash + 1));
      if (slot >= lo && slot <= hi) owner = i;
    }
  }
  ASSERT_GE(owner, 0);
  auto& from = cluster.node(owner);
  auto& to = cluster.node((owner + 1) % 3);
  const std::string from_id = id_of(from), to_id = id_of(to), s = std::to_string(slot);

  EXPECT_TRUE(test::consume_blocking(*store, old_key, p).allowed);  // lives on `from`

  // Migration: a key that is not on `from` yet answers ASK there.
  to.cli({"CLUSTER", "SETSLOT", s, "IMPORTING", from_id});
  from.cli({"CLUSTER", "SETSLOT", s, "MIGRATING", to_id});
  std::string new_key;
  for (int i = 0; new_key.empty(); ++i)
    if (hash_slot(o.prefix + "n" + std::to_string(i)) == slot) new_key = "n" + std::to_string(i);
  EXPECT_EQ(test::consume_blocking(*store, new_key, p).remaining, 9u);
  EXPECT_GE(store->counters().value("ask"), 1u);
  // The new key went to the importing node; the old one stays where it was.
  EXPECT_EQ(to.cli({"CLUSTER", "COUNTKEYSINSLOT", s}), "1\n");
  EXPECT_EQ(from.cli({"CLUSTER", "COUNTKEYSINSLOT", s}), "1\n");
  EXPECT_EQ(store->counters().value("moved"), 0u);

  // Hand-over: the old key moves, every node learns the new owner.
  from.cli({"MIGRATE", "127.0.0.1", std::to_string(to.port()), "", "0", "5000", "KEYS",
            o.prefix + old_key});
  for (int i = 0; i < 3; ++i) cluster.node(i).cli({"CLUSTER", "SETSLOT", s, "NODE", to_id});
  const auto d = test::consume_blocking(*store, old_key, p);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 8u);  // the count moved with the key
  EXPECT_GE(store->counters().value("moved"), 1u);
  // The MOVED starts a slot-map refresh in the background (at most ten a
  // second, so one may be held back briefly): wait for it, bounded.
  for (int i = 0; i < 100 && store->counters().value("slot_refreshes") < 2u; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GE(store->counters().value("slot_refreshes"), 2u);
}

// -- AUTH, ACL users and databases -------------------------------------------

TEST(redis_rate_limit_store, authenticates_and_selects_the_database_from_the_url) {
  test::redis_process r({"--requirepass", "hunter2"});
  r.cli({"-a", "hunter2", "--no-auth-warning", "ACL", "SETUSER", "limiter", "on", ">s3cret", "~*",
         "+@all"});
  const auto p = rate_policy::fixed_window(rate::per(5, 60s));

  auto o = options_for("redis://limiter:s3cret@" + r.address() + "/3", "auth");
  auto store = ready_store(o);
  EXPECT_TRUE(test::consume_blocking(*store, "k", p).allowed);
  EXPECT_EQ(r.cli({"-a", "hunter2", "--no-auth-warning", "-n", "3", "EXISTS", o.prefix + "k"}),
            "1\n");

  auto legacy = options_for("redis://:hunter2@" + r.address(), "legacy");
  auto legacy_store = ready_store(legacy);
  EXPECT_TRUE(test::consume_blocking(*legacy_store, "k", p).allowed);

  // A wrong password: calls fail (the limiter applies its policy), the
  // error is logged, the password is not.
  auto sink = std::make_shared<recording_sink>();
  auto bad = options_for("redis://limiter:wrong-hunter3@" + r.address(), "bad");
  bad.server.log = logger(sink, log_level::debug);
  bad.server.call_timeout = 200ms;
  redis_rate_limit_store bad_store{bad};
  EXPECT_FALSE(bad_store.wait_ready(300ms));
  EXPECT_THROW(test::consume_blocking(bad_store, "k", p), std::system_error);
  const auto logged = sink->all();
  EXPECT_NE(logged.find("redis.handshake_failed"), std::string::npos) << logged;
  EXPECT_EQ(logged.find("wrong-hunter3"), std::string::npos) << logged;
}

}  // namespace
}  // namespace portcullis

namespace portcullis {
namespace {

// -- Two processes, one limit --------------------------------------------------

// The child half of the test below: runs only when the parent starts this
// binary again with PORTCULLIS_REDIS_CHILD set, consumes from its own
// store (its own connection, its own process) and prints what it was
// allowed.
TEST(redis_shared_child, consume_and_report) {
  const auto spec = test::service_env("PORTCULLIS_REDIS_CHILD");
  if (!spec) GTEST_SKIP() << "started only by two_processes_share_one_limit";
  // "<url> <prefix> <requests>"
  std::istringstream in(*spec);
  std::string url, prefix;
  int requests = 0;
  in >> url >> prefix >> requests;
  redis_store_options o;
  o.server = redis_options::parse_url(url);
  o.server.call_timeout = 2s;
  o.server.stall_timeout = 5s;
  o.prefix = prefix;
  redis_rate_limit_store store{o};
  ASSERT_TRUE(store.wait_ready(10s));
  const auto p = rate_policy::fixed_window(rate::per(30, 10min));
  int allowed = 0;
  for (int i = 0; i < requests; ++i)
    if (test::consume_blocking(store, "shared", p).allowed) ++allowed;
  std::printf("CHILD-ALLOWED %d\n", allowed);
}

TEST(redis_rate_limit_store, two_processes_share_one_limit) {
  PORTCULLIS_SERVICE_OR_SKIP(url, "PORTCULLIS_REDIS_URL");
  const std::string prefix = unique_prefix("procs");
  // Both children start at once and interleave their 50 requests each.
  auto start = [&] {
    const std::string cmd = "PORTCULLIS_REDIS_CHILD='" + url + " " + prefix + " 50' /proc/" +
                            std::to_string(getpid()) +
                            "/exe --gtest_filter=redis_shared_child.consume_and_report 2>&1";
    return popen(cmd.c_str(), "r");
  };
  FILE* a = start();
  FILE* b = start();
  ASSERT_TRUE(a && b);
  auto allowed_of = [](FILE* f) {
    std::string out;
    char buf[4096];
    while (std::size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
    EXPECT_EQ(pclose(f), 0) << out;
    const auto at = out.find("CHILD-ALLOWED ");
    EXPECT_NE(at, std::string::npos) << out;
    return at == std::string::npos ? -1 : std::stoi(out.substr(at + 14));
  };
  const int from_a = allowed_of(a), from_b = allowed_of(b);
  EXPECT_EQ(from_a + from_b, 30) << from_a << " + " << from_b;
}

// -- On the caller's executor ---------------------------------------------------

// The threads of this process named `name` (/proc/self/task/*/comm): the
// store names its own thread, so that other threads (a sanitizer's) do not
// count.
std::size_t threads_named(std::string_view name) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(e.path() / "comm");
    std::string comm;
    std::getline(in, comm);
    if (comm == name) ++n;
  }
  return n;
}

// Runs `io` on this thread until `done` holds or `limit` passes.
template <typename Done>
bool run_until(asio::io_context& io, Done done, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    io.restart();
    io.run_one_for(10ms);
  }
  return true;
}

// Runs `call` on `io` (this thread only) and returns its result.
template <typename T>
T run_here(asio::io_context& io, asio::awaitable<T> call) {
  auto f = asio::co_spawn(io, std::move(call), asio::use_future);
  EXPECT_TRUE(run_until(io, [&] { return f.wait_for(0s) == std::future_status::ready; }))
      << "the call did not finish";
  return f.get();
}

TEST(redis_rate_limit_store, runs_on_the_callers_io_context_without_a_thread_of_its_own) {
  PORTCULLIS_SERVICE_OR_SKIP(url, "PORTCULLIS_REDIS_URL");
  asio::io_context io{1};
  auto o = options_for(url, "exec");
  o.server.executor = io.get_executor();
  redis_rate_limit_store store{o};
  EXPECT_EQ(threads_named("pc-redis-store"), 0u)
      << "a store on the caller's executor started a thread";
  ASSERT_TRUE(run_until(io, [&] { return store.wait_ready(0ms); })) << "did not connect";

  const auto p = rate_policy::fixed_window(rate::per(3, 10min));
  const auto here = std::this_thread::get_id();
  for (std::uint64_t expected : {2u, 1u, 0u}) {
    auto d = run_here(io, [&]() -> asio::awaitable<rate_decision> {
      auto d = co_await store.consume("k", p, 1);
      EXPECT_EQ(std::this_thread::get_id(), here) << "resumed on another thread";
      co_return d;
    }());
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, expected);
  }
  EXPECT_FALSE(run_here(io, store.consume("k", p, 1)).allowed);
  EXPECT_EQ(store.counters().value("errors"), 0u);

  // The same store on a thread of its own does start one: the count above
  // can tell the two apart.
  o.server.executor = {};
  redis_rate_limit_store threaded{o};
  EXPECT_EQ(threads_named("pc-redis-store"), 1u);
}

TEST(redis_rate_limit_store, counts_exactly_on_a_multithreaded_io_context) {
  PORTCULLIS_SERVICE_OR_SKIP(url, "PORTCULLIS_REDIS_URL");
  asio::io_context io{4};
  auto work = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&io] { io.run(); });

  auto o = options_for(url, "exec-mt");
  o.server.connections = 2;
  o.server.executor = io.get_executor();
  {
    redis_rate_limit_store store{o};
    ASSERT_TRUE(store.wait_ready(10s));  // this thread does not run io: it may wait
    const auto p = rate_policy::fixed_window(rate::per(300, 10min));
    std::atomic<std::uint64_t> allowed{0}, failed{0};
    std::atomic<int> finished{0};
    constexpr int clients = 48, each = 10;
    for (int c = 0; c < clients; ++c)
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            for (int i = 0; i < each; ++i)
              if ((co_await store.consume("hot", p, 1)).allowed) ++allowed;
          },
          [&](std::exception_ptr e) {
            if (e) ++failed;
            ++finished;
          });
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (finished.load() < clients && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(5ms);
    ASSERT_EQ(finished.load(), clients);
    EXPECT_EQ(failed.load(), 0u);
    EXPECT_EQ(allowed.load(), 300u);
    EXPECT_EQ(store.counters().value("errors"), 0u);
  }  // destroyed while io runs on four threads
  work.reset();
  for (auto& t : threads) t.join();  // returns: the store left no work behind
}

TEST(redis_rate_limit_store, destroyed_on_its_io_context_leaves_no_work_behind) {
  PORTCULLIS_SERVICE_OR_SKIP(url, "PORTCULLIS_REDIS_URL");
  asio::io_context io{1};
  auto o = options_for(url, "exec-gone");
  o.server.executor = io.get_executor();
  auto store = std::make_unique<redis_rate_limit_store>(o);
  ASSERT_TRUE(run_until(io, [&] { return store->wait_ready(0ms); }));
  EXPECT_TRUE(
      run_here(io, store->consume("k", rate_policy::fixed_window(rate::per(5, 1min)), 1)).allowed);
  // From a handler on the io_context's own thread: must not wait for itself.
  asio::post(io, [&] { store.reset(); });
  io.restart();
  io.run_for(5s);
  EXPECT_EQ(store, nullptr);
  EXPECT_TRUE(io.stopped()) << "run() did not return: the destroyed store left work queued";
}

TEST(redis_rate_limit_store, fails_calls_once_its_io_context_is_destroyed) {
  PORTCULLIS_SERVICE_OR_SKIP(url, "PORTCULLIS_REDIS_URL");
  auto io = std::make_unique<asio::io_context>(1);
  auto o = options_for(url, "exec-ctx");
  o.server.executor = io->get_executor();
  redis_rate_limit_store store{o};
  ASSERT_TRUE(run_until(*io, [&] { return store.wait_ready(0ms); }));
  const auto p = rate_policy::fixed_window(rate::per(5, 1min));
  EXPECT_TRUE(run_here(*io, store.consume("k", p, 1)).allowed);

  // A call from another io_context, submitted while the store's context no
  // longer runs, and still queued there when it is destroyed: it fails, it
  // does not hang.
  asio::io_context caller{1};
  auto pending = asio::co_spawn(caller, store.consume("k", p, 1), asio::use_future);
  caller.run_for(50ms);
  ASSERT_NE(pending.wait_for(0s), std::future_status::ready);
  io.reset();
  ASSERT_TRUE(run_until(caller, [&] { return pending.wait_for(0s) == std::future_status::ready; }));
  auto is_unavailable = [](const std::system_error& e) {
    return e.code() == errc::store_unavailable;
  };
  try {
    pending.get();
    ADD_FAILURE() << "a call queued on a destroyed io_context succeeded";
  } catch (const std::system_error& e) {
    EXPECT_TRUE(is_unavailable(e)) << e.what();
  }

  // Every later call fails at once, on the caller's side.
  for (int i = 0; i < 2; ++i) {
    try {
      if (i == 0)
        run_here(caller, store.consume("k", p, 1));
      else
        run_here(caller, store.reset_all());
      ADD_FAILURE() << "a call after the io_context was destroyed succeeded";
    } catch (const std::system_error& e) {
      EXPECT_TRUE(is_unavailable(e)) << e.what();
    }
  }
  EXPECT_FALSE(store.wait_ready(0ms));
}

}  // namespace
}  // namespace portcullis
