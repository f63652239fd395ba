// Decisions per second of the in-memory rate-limit store, per algorithm,
// on 1 and 2 threads, over 1, 1 000 and 1 000 000 distinct keys (also on
// the coarse clock), beside a naive baseline (one mutex around one std::unordered_map, same
// algorithm code) in the same run. Plus the bare algorithm step on one unkeyed state (what a
// single, unshared limiter costs).
//
// Beside them, in the same run, what the hardware allows: a floor for one
// decision with a million keys (one dependent read from memory shaped like
// the store's tables, one SipHash of a key, one clock read), and a ceiling
// for one hot key (threads doing compare-and-swap on one 64-bit word).
//
//   ./build/bench/portcullis_rate_limit_bench --benchmark_repetitions=5 \
//       --benchmark_report_aggregates_only=true
#include "portcullis/detail/rate_state.hpp"
#include "portcullis/detail/siphash.hpp"
#include "portcullis/memory_rate_limit_store.hpp"

#include <benchmark/benchmark.h>

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <mutex>
#include <new>
#include <numeric>
#include <random>
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

// ---- The floor under a decision with a million keys ----

// Bytes the store's tables take once it holds the benchmark's million keys
// (same options as bm_keyed), asked of the store itself so that the floor
// follows any change to the table's sizing.
std::size_t table_bytes_at_a_million() {
  static const std::size_t bytes = [] {
    memory_rate_limit_store store({.max_keys = 2'000'000});
    const auto policy = policy_for(0);
    for (const auto& k : keys(1'000'000)) store.consume_now(k, policy, 1);
    return store.table_bytes();
  }();
  return bytes;
}

// Kilobytes of this process on transparent huge pages, from
// /proc/self/smaps_rollup (0 where the file is missing).
double anon_huge_kib() {
  std::ifstream in("/proc/self/smaps_rollup");
  std::string word;
  while (in >> word) {
    if (word == "AnonHugePages:") {
      double kib = 0;
      in >> kib;
      return kib;
    }
  }
  return 0;
}

// Memory mapped as the store maps a large table: afresh, on a 2 MiB
// boundary, advised for transparent huge pages before the first touch.
class huge_mapping {
 public:
  explicit huge_mapping(std::size_t bytes) : bytes_(bytes) {
    constexpr std::size_t huge = std::size_t{2} << 20;
    mapped_ = bytes + huge;
    raw_ = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw_ == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(raw_);
    data_ = reinterpret_cast<char*>((start + huge - 1) & ~(huge - 1));
    ::madvise(data_, bytes_, MADV_HUGEPAGE);
    std::memset(data_, 0, bytes_);  // every page faulted in before timing
  }
  ~huge_mapping() { ::munmap(raw_, mapped_); }
  huge_mapping(const huge_mapping&) = delete;
  huge_mapping& operator=(const huge_mapping&) = delete;

  char* data() const noexcept { return data_; }

 private:
  std::size_t bytes_;
  std::size_t mapped_;
  void* raw_;
  char* data_;
};

// One dependent read per iteration over memory of the store's size and
// kind: as many 64-byte lines as the benchmark has keys, picked at random
// among the table's lines (as held keys are among its slots) and linked in
// one random cycle. Each read's address comes from the read before, so no
// prefetcher and no second read in flight can hide the latency. This is
// what one decision's slot costs when it is not in a cache. With `write:1`
// each line is also written (as a decision writes its slot), so that lines
// leave the cache dirty and go back to memory, as the store's do.
void bm_floor_chase(benchmark::State& state) {
  const bool write = state.range(0) != 0;
  const std::size_t bytes = table_bytes_at_a_million();
  const std::size_t lines = bytes / 64;
  const std::size_t live = std::min(lines, keys(1'000'000).size());
  huge_mapping memory(bytes);

  // Pick `live` lines at random, and link them in that (random) order.
  std::vector<std::uint32_t> order(lines);
  std::iota(order.begin(), order.end(), 0u);
  std::mt19937_64 rng(42);
  std::shuffle(order.begin(), order.end(), rng);
  order.resize(live);
  auto line = [&](std::size_t i) { return reinterpret_cast<void**>(memory.data() + i * 64); };
  for (std::size_t i = 0; i < live; ++i) *line(order[i]) = line(order[(i + 1) % live]);

  // One full lap untimed: the chain is built and the pages are in the TLB
  // as far as they will ever be.
  void* p = line(order[0]);
  for (std::size_t i = 0; i < live; ++i) p = *static_cast<void**>(p);

  if (write) {
    for (auto _ : state) {
      void** at = static_cast<void**>(p);
      p = at[0];
      at[1] = p;  // the same line, after the read
      benchmark::DoNotOptimize(p);
    }
  } else {
    for (auto _ : state) {
      p = *static_cast<void**>(p);
      benchmark::DoNotOptimize(p);
    }
  }
  state.counters["table_mib"] = static_cast<double>(bytes) / (1 << 20);
  state.counters["huge_page_mib"] = anon_huge_kib() / 1024;
  state.SetItemsProcessed(state.iterations());
}

// SipHash-1-3 of keys shaped as the benchmark's (1 000 of them, so that the
// key text is in a cache): the hash a decision computes before its lock.
void bm_floor_siphash(benchmark::State& state) {
  const auto& ks = keys(1000);
  const auto secret = detail::sip_key::random();
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(detail::siphash_1_3(secret, ks[i++ % ks.size()]));
  state.SetItemsProcessed(state.iterations());
}

// One read of the store's clock, through the same virtual call the store
// makes: 0 the precise system_clock(), 1 coarse_system_clock().
void bm_floor_clock(benchmark::State& state) {
  const portcullis::clock& clk = state.range(0) != 0 ? coarse_system_clock() : system_clock();
  for (auto _ : state) benchmark::DoNotOptimize(clk.now());
  state.SetItemsProcessed(state.iterations());
}

// ---- The ceiling for one hot key ----

// Two 64-bit words, each on a line of its own.
struct alignas(64) padded_word {
  std::atomic<std::uint64_t> value{0};
};
padded_word cas_words[2];

// Threads each doing a read-modify-write by compare-and-swap (read, add
// one, CAS, retry on failure: GCRA's update of its one word) on a shared
// 64-bit word (`shared:1`: every operation moves the line between cores),
// or each on its own line (`shared:0`: the control, no line moves). With
// two threads, shared:1 over one thread is as far as any design that keeps
// a hot key's state in one cache line can scale on this machine.
void bm_ceiling_cas(benchmark::State& state) {
  const bool shared = state.range(0) != 0;
  auto& word = cas_words[shared ? 0 : state.thread_index() % 2].value;
  for (auto _ : state) {
    std::uint64_t v = word.load(std::memory_order_relaxed);
    while (!word.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
    }
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

BENCHMARK(bm_floor_chase)->Name("floor/dependent_read")->ArgName("write")->Arg(0)->Arg(1);
BENCHMARK(bm_floor_siphash)->Name("floor/siphash_1_3");
BENCHMARK(bm_floor_clock)->Name("floor/clock")->ArgName("coarse")->Arg(0)->Arg(1);
BENCHMARK(bm_ceiling_cas)
    ->Name("ceiling/cas")
    ->ArgName("shared")
    ->Arg(1)
    ->Arg(0)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

BENCHMARK_MAIN();
