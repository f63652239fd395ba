// Decisions per second of the in-memory rate-limit store, per algorithm,
// on 1 and 2 threads, over 1, 1 000 and 1 000 000 distinct keys (also on
// the coarse clock), beside a naive baseline (one mutex around one std::unordered_map, same
// algorithm code) in the same run. Plus the bare algorithm step on one unkeyed state (what a
// single, unshared limiter costs).
//
//   ./build/bench/portcullis_rate_limit_bench --benchmark_repetitions=5 \
//       --benchmark_report_aggregates_only=true
#include "portcullis/detail/rate_state.hpp"
#include "portcullis/memory_rate_limit_store.hpp"

#include <benchmark/benchmark.h>

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using namespace portcullis;

// High enough that most decisions are allowed, as in normal traffic.
rate_policy policy_for(int algorithm) {
  const auto a = static_cast<rate_algorithm>(algorithm);
  if (a == rate_algorithm::sliding_window_log) return rate_policy::make(a, rate::per_second(1000));
  return rate_policy::make(a, rate::per_second(1'000'000));
}

const std::vector<std::string>& keys(std::size_t n) {
  static std::unordered_map<std::size_t, std::vector<std::string>> cache;
  static std::mutex m;
  std::lock_guard lock(m);
  auto& v = cache[n];
  if (v.empty()) {
    v.reserve(n);
    // Client-address-shaped keys, as the middleware builds them.
    for (std::size_t i = 0; i < n; ++i)
      v.push_back("api:ip:10." + std::to_string(i >> 16 & 255) + "." +
                  std::to_string(i >> 8 & 255) + "." + std::to_string(i & 255));
  }
  return v;
}

// One mutex, one map: what a first attempt looks like.
class naive_store {
 public:
  explicit naive_store(const portcullis::clock& c) : clk_(c) {}
  rate_decision consume(std::string_view key, const rate_policy& p, std::uint64_t cost) {
    std::lock_guard lock(m_);
    auto& s = map_[std::string(key)];
    return detail::apply_consume(s, p, cost, clk_.now().time_since_epoch().count());
  }

 private:
  const portcullis::clock& clk_;
  std::mutex m_;
  std::unordered_map<std::string, detail::rate_state> map_;
};

memory_rate_limit_store* shared_store = nullptr;
naive_store* shared_naive = nullptr;

template <bool Naive, bool Coarse = false>
void bm_keyed(benchmark::State& state) {
  const auto policy = policy_for(static_cast<int>(state.range(0)));
  const auto& ks = keys(static_cast<std::size_t>(state.range(1)));
  if (state.thread_index() == 0) {
    if (Naive)
      shared_naive = new naive_store(system_clock());
    else
      shared_store = new memory_rate_limit_store({.max_keys = 2'000'000},
                                                 Coarse ? coarse_system_clock() : system_clock());
    // Warm: every key present, so the run measures decisions, not inserts.
    for (const auto& k : ks) {
      if (Naive)
        shared_naive->consume(k, policy, 1);
      else
        shared_store->consume_now(k, policy, 1);
    }
  }
  // Each thread walks the keys from its own offset; with one key both
  // threads hammer the same hot key.
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  std::uint64_t allowed = 0;
  for (auto _ : state) {
    const auto& k = ks[i++ % ks.size()];
    rate_decision d =
        Naive ? shared_naive->consume(k, policy, 1) : shared_store->consume_now(k, policy, 1);
    allowed += d.allowed;
    benchmark::DoNotOptimize(d);
  }
  state.counters["allowed_share"] =
      benchmark::Counter(static_cast<double>(allowed) / static_cast<double>(state.iterations()),
                         benchmark::Counter::kAvgThreads);
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete shared_naive;
    delete shared_store;
    shared_naive = nullptr;
    shared_store = nullptr;
  }
}

// The algorithm alone on one state: an unkeyed limiter, time from a manual
// clock that moves 1 us per decision (the clock read excluded), and from the
// system clock (the clock read included).
void bm_unkeyed(benchmark::State& state) {
  const auto policy = policy_for(static_cast<int>(state.range(0)));
  const bool real_time = state.range(1) != 0;
  detail::rate_state s;
  std::int64_t t = 1'000'000'000;
  const portcullis::clock& clk = system_clock();
  for (auto _ : state) {
    const std::int64_t now = real_time ? clk.now().time_since_epoch().count() : (t += 1000);
    benchmark::DoNotOptimize(detail::apply_consume(s, policy, 1, now));
  }
  state.SetItemsProcessed(state.iterations());
}

void keyed_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"algorithm", "keys"});
  for (int a = 0; a <= 4; ++a)
    for (long k : {1L, 1000L, 1000000L}) b->Args({a, k});
}

}  // namespace

// algorithm: 0 fixed_window, 1 sliding_window_log, 2 sliding_window_counter,
// 3 token_bucket, 4 gcra.
BENCHMARK(bm_keyed<false>)
    ->Name("memory_store")
    ->Apply(keyed_args)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
// The same store on coarse_system_clock(): the clock read is most of a
// decision's time with 1 000 keys.
BENCHMARK(bm_keyed<false, true>)
    ->Name("memory_store_coarse_clock")
    ->Apply(keyed_args)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(bm_keyed<true>)
    ->Name("naive_mutex_map")
    ->Apply(keyed_args)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(bm_unkeyed)
    ->Name("unkeyed")
    ->ArgNames({"algorithm", "real_clock"})
    ->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1}});

BENCHMARK_MAIN();
