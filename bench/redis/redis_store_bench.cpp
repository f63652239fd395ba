// Decisions per second through the Redis store, beside the ceiling that
// the same Redis reaches when redis-benchmark runs the same script with
// EVALSHA at the same pipeline depth on one connection. Both run in one
// process, one after the other, against the redis-server named by
// PORTCULLIS_REDIS_URL (bench/redis/run starts one).
//
//   items_per_second of BM_ceiling_redis_benchmark/<alg>/<depth>  the ceiling
//   items_per_second of BM_store_decisions/<alg>/<depth>/<same>   portcullis
//   (same_thread:1: the store on the callers' io_context, no thread of its own)
//
// Depth 1 is one call at a time: its time per item is the round trip.
#include "portcullis/detail/redis_hash.hpp"
#include "portcullis/detail/redis_scripts.hpp"
#include "portcullis/redis/rate_limit_store.hpp"

#include <benchmark/benchmark.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

namespace {

using namespace std::chrono_literals;
using portcullis::rate_algorithm;
using portcullis::rate_policy;

constexpr int decisions_per_run = 100'000;

const portcullis::redis_options& server() {
  static const auto o = [] {
    const char* url = std::getenv("PORTCULLIS_REDIS_URL");
    if (url == nullptr) throw std::runtime_error("set PORTCULLIS_REDIS_URL (bench/redis/run does)");
    return portcullis::redis_options::parse_url(url);
  }();
  return o;
}

// Never denies, so every decision does the same work (read, write, TTL).
rate_policy policy_for(rate_algorithm a) {
  switch (a) {
    case rate_algorithm::token_bucket:
      return rate_policy::token_bucket(portcullis::rate::per_second(1'000'000'000));
    case rate_algorithm::gcra:
      return rate_policy::gcra(portcullis::rate::per_second(1'000'000'000));
    default:
      return rate_policy::make(a, portcullis::rate::per(1'000'000'000'000, 1h));
  }
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string run(const std::string& command) {
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[4096];
    while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    pclose(p);
  }
  return out;
}

void BM_ceiling_redis_benchmark(benchmark::State& state) {
  const auto a = static_cast<rate_algorithm>(state.range(0));
  const auto depth = state.range(1);
  const auto& s = server().servers.front();
  const std::string cli = "-h " + s.host + " -p " + std::to_string(s.port);

  // The store's own script, loaded as the store would, run with the
  // store's own arguments over 1000 keys.
  const auto& source = portcullis::redis::detail::consume_script_source(a);
  run("redis-cli " + cli + " SCRIPT LOAD " + shell_quote(source) + " >/dev/null");
  std::string command = "redis-benchmark " + cli + " -q -c 1 -r 1000 -n " +
                        std::to_string(decisions_per_run) + " -P " + std::to_string(depth) +
                        " EVALSHA " + portcullis::redis::detail::sha1_hex(source) +
                        " 1 bench:ceiling:__rand_int__";
  for (const auto& arg : portcullis::redis::detail::consume_script_args(policy_for(a), 1))
    command += " " + shell_quote(arg);
  command += " 2>/dev/null";

  for (auto _ : state) {
    const std::string out = run(command);
    // "...: 123456.78 requests per second, p50=..." (the last one printed)
    const auto at = out.rfind(" requests per second");
    const auto colon = out.rfind(": ", at);
    if (at == std::string::npos || colon == std::string::npos) {
      state.SkipWithError(("redis-benchmark failed: " + out).c_str());
      return;
    }
    const double rps = std::stod(out.substr(colon + 2, at - colon - 2));
    state.SetIterationTime(decisions_per_run / rps);
  }
  state.SetItemsProcessed(state.iterations() * decisions_per_run);
}

// same_thread 0: the store on a thread of its own, the callers on another
// (each call crosses threads twice); 1: the store on the callers' own
// io_context (redis_options::executor), one thread for everything.
void BM_store_decisions(benchmark::State& state) {
  const auto a = static_cast<rate_algorithm>(state.range(0));
  const auto depth = static_cast<int>(state.range(1));
  const bool same_thread = state.range(2) == 1;
  boost::asio::io_context io{1};
  portcullis::redis_store_options o;
  o.server = server();
  o.server.call_timeout = 5s;
  o.server.stall_timeout = 10s;
  if (same_thread) o.server.executor = io.get_executor();
  o.prefix = "bench:store:";
  portcullis::redis_rate_limit_store store{o};
  // Runs `io` on this thread until `done` holds (at most `limit`).
  auto run_until = [&io](auto done, std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) {
      io.restart();
      io.run_one_for(10ms);
    }
    return done();
  };
  if (!run_until([&] { return store.wait_ready(0ms); }, 5s)) {
    state.SkipWithError("cannot connect to Redis");
    return;
  }
  const rate_policy policy = policy_for(a);
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i) keys.push_back(std::to_string(i));

  for (auto _ : state) {
    // `depth` callers, each with one call in flight at a time: the store
    // pipelines them on its one connection.
    std::atomic<int> failures{0}, finished{0};
    for (int c = 0; c < depth; ++c)
      boost::asio::co_spawn(
          io,
          [&, c]() -> boost::asio::awaitable<void> {
            for (int i = c; i < decisions_per_run; i += depth)
              benchmark::DoNotOptimize(co_await store.consume(keys[i % 1000], policy, 1));
          },
          [&](std::exception_ptr e) {
            if (e) ++failures;
            ++finished;
          });
    if (!run_until([&] { return finished.load() == depth; }, 600s) || failures > 0) {
      state.SkipWithError("store calls failed");
      return;
    }
  }
  state.SetItemsProcessed(state.iterations() * decisions_per_run);
}

constexpr rate_algorithm algorithms[] = {
    rate_algorithm::fixed_window, rate_algorithm::token_bucket, rate_algorithm::gcra,
    rate_algorithm::sliding_window_counter, rate_algorithm::sliding_window_log};

void arguments(benchmark::internal::Benchmark* b) {
  for (auto a : algorithms)
    for (int depth : {1, 16, 64}) b->Args({static_cast<int>(a), depth});
  b->ArgNames({"alg", "depth"});
}

void store_arguments(benchmark::internal::Benchmark* b) {
  for (auto a : algorithms)
    for (int depth : {1, 16, 64})
      for (int same : {0, 1}) b->Args({static_cast<int>(a), depth, same});
  b->ArgNames({"alg", "depth", "same_thread"});
}

BENCHMARK(BM_ceiling_redis_benchmark)->Apply(arguments)->UseManualTime()->Iterations(3);
BENCHMARK(BM_store_decisions)->Apply(store_arguments)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
