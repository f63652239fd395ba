#include "portcullis/memory_rate_limit_store.hpp"

#include "portcullis/errc.hpp"

#include <gtest/gtest.h>

#include <malloc.h>

#include <map>
#include <random>
#include <thread>

namespace portcullis {
namespace {

using namespace std::chrono_literals;

// Bytes allocated from the heap, including blocks glibc maps on their own
// (large tables are).
std::size_t heap_in_use() {
  const auto m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

TEST(memory_rate_limit_store, a_million_keys_stay_within_the_bound) {
  manual_clock clk;
  auto p = rate_policy::gcra(rate::per_minute(10));
  const std::size_t before = heap_in_use();
  {
    memory_rate_limit_store store{{.max_keys = 10'000}, clk};
    std::string key;
    for (int i = 0; i < 1'000'000; ++i) {
      key = "ip:10." + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) + "." +
            std::to_string(i & 255);
      ASSERT_TRUE(store.consume_now(key, p, 1).allowed);
    }
    EXPECT_LE(store.size(), store.capacity());
    EXPECT_LE(store.capacity(), 10'000u + 64);
    EXPECT_GE(store.evictions(), 1'000'000u - store.capacity());
    // Memory: about 10 000 entries' worth, not a million. An entry with its
    // key and hash node is well under 400 bytes; allow 4x for the tables.
    const std::size_t grown = heap_in_use() - before;
    EXPECT_LT(grown, 16u << 20) << grown << " bytes for " << store.size() << " keys";
    EXPECT_LT(grown, 1'000'000u * 40) << "the bound did not hold memory down";
    EXPECT_LE(store.table_bytes(), store.capacity() * 64 * 4 / 3 + 64 * 64);
  }
}

TEST(memory_rate_limit_store, a_key_used_since_the_hand_passed_is_spared) {
  manual_clock clk;
  memory_rate_limit_store store{{.max_keys = 4, .shards = 1}, clk};
  auto p = rate_policy::fixed_window(rate::per_minute(1));
  for (auto k : {"a", "b", "c", "d"}) store.consume_now(k, p, 1);
  store.consume_now("a", p, 1);  // "a" is used again: the hand spares it, takes another
  store.consume_now("e", p, 1);
  EXPECT_EQ(store.evictions(), 1u);
  // One of b, c, d went (the hand walks the table, in an order the store's
  // secret hash key decides); "a", marked, was passed over.
  EXPECT_FALSE(store.consume_now("a", p, 1).allowed) << "a was kept";
  EXPECT_EQ(store.evictions(), 1u);
}

TEST(memory_rate_limit_store, dead_keys_stay_until_the_shard_is_half_full) {
  manual_clock clk;
  memory_rate_limit_store store{{.shards = 1}, clk};
  auto p = rate_policy::fixed_window(rate::per_minute(5));
  for (int i = 0; i < 100; ++i) store.consume_now("old" + std::to_string(i), p, 1);
  clk.advance(2min);
  // Decisions on keys already held do no clean-up: their cost never
  // depends on other keys.
  store.consume_now("old0", p, 1);
  for (int i = 0; i < 99; ++i) store.consume_now("new" + std::to_string(i), p, 1);
  EXPECT_EQ(store.expired_removed(), 0u);
  EXPECT_EQ(store.size(), 199u);
  // A dead key kept still starts afresh.
  EXPECT_EQ(store.consume_now("old1", p, 1).remaining, 4u);
}

TEST(memory_rate_limit_store, a_full_shard_recycles_a_cold_key) {
  manual_clock clk;
  memory_rate_limit_store store{{.max_keys = 64, .shards = 1}, clk};
  auto p = rate_policy::fixed_window(rate::per_minute(5));
  for (int i = 0; i < 64; ++i) store.consume_now("k" + std::to_string(i), p, 1);
  store.consume_now("k0", p, 1);  // k0 used again: the hand spares it
  store.consume_now("new", p, 1);
  EXPECT_EQ(store.evictions(), 1u);
  EXPECT_EQ(store.size(), 64u);
  EXPECT_EQ(store.consume_now("k0", p, 1).remaining, 2u);  // kept, its count intact
  EXPECT_EQ(store.consume_now("new", p, 1).remaining, 3u);
  EXPECT_EQ(store.evictions(), 1u);
}

TEST(memory_rate_limit_store, a_crowded_shard_sheds_expired_keys_without_a_sweep) {
  manual_clock clk;
  // 16 shards of 100 keys; 1 000 old keys fill each past half.
  memory_rate_limit_store store{{.max_keys = 1600, .shards = 16}, clk};
  auto p = rate_policy::fixed_window(rate::per_minute(5));
  for (int i = 0; i < 1000; ++i) store.consume_now("old" + std::to_string(i), p, 1);
  EXPECT_EQ(store.size(), 1000u);
  clk.advance(2min);
  store.consume_now("old1", p, 1);
  // 2 000 keys pass through 1 600 places: the dead ones make room, a few
  // per new key, and no live key is evicted.
  for (int i = 0; i < 1000; ++i) store.consume_now("new" + std::to_string(i), p, 1);
  EXPECT_EQ(store.evictions(), 0u);
  EXPECT_GE(store.expired_removed(), 900u);
  EXPECT_EQ(store.size(), 2000u - store.expired_removed());
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(store.consume_now("new" + std::to_string(i), p, 1).remaining, 3u) << i;
  EXPECT_EQ(store.consume_now("old1", p, 1).remaining, 3u);
}

TEST(memory_rate_limit_store, expired_state_starts_afresh_and_policy_change_resets) {
  manual_clock clk;
  memory_rate_limit_store store{{}, clk};
  auto p = rate_policy::sliding_window_counter(rate::per_minute(2));
  store.consume_now("k", p, 2);
  EXPECT_FALSE(store.consume_now("k", p, 1).allowed);
  clk.advance(2min);
  EXPECT_EQ(store.consume_now("k", p, 1).remaining, 1u);
  // The same key under a different policy does not inherit foreign state.
  auto q = rate_policy::fixed_window(rate::per_minute(7));
  EXPECT_EQ(store.consume_now("k", q, 1).remaining, 6u);
}

TEST(memory_rate_limit_store, many_threads_many_keys) {
  manual_clock clk;
  memory_rate_limit_store store{{.max_keys = 100'000}, clk};
  auto p = rate_policy::fixed_window(rate::per_minute(3));
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20'000; ++i)
        if (store.consume_now("k" + std::to_string(i % 5000), p, 1).allowed) ++allowed;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(allowed.load(), 5000 * 3);
  EXPECT_EQ(store.size(), 5000u);
}

// The table moves keys when it grows and when a key is removed (backward
// shift): every key held must keep its own count through thousands of both,
// against a plain map as the model.
TEST(memory_rate_limit_store, keys_keep_their_state_through_growth_and_removal) {
  manual_clock clk;
  memory_rate_limit_store store{{.max_keys = 1 << 20, .shards = 1}, clk};
  auto p = rate_policy::fixed_window(rate::per_minute(1'000'000));
  std::map<int, std::uint64_t> model;  // key -> units counted
  std::mt19937 rng(7);
  for (int step = 0; step < 200'000; ++step) {
    const int k = static_cast<int>(rng() % 3000);
    const std::string key = "k" + std::to_string(k);
    if (rng() % 8 == 0) {
      store.reset_now(key);
      model.erase(k);
      continue;
    }
    const auto d = store.consume_now(key, p, 1);
    ASSERT_TRUE(d.allowed);
    ASSERT_EQ(d.remaining, 1'000'000 - ++model[k]) << "key " << key << " at step " << step;
  }
  EXPECT_EQ(store.size(), model.size());
  store.reset_all_now();
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.consume_now("k1", p, 1).remaining, 999'999u);
}

TEST(memory_rate_limit_store, zero_keys_is_a_config_error) {
  EXPECT_THROW(memory_rate_limit_store({.max_keys = 0}), config_error);
}

}  // namespace
}  // namespace portcullis
