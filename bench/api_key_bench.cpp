// API-key verification, side by side in one run against one PostgreSQL
// (PORTCULLIS_PG_URL):
//
//   cached     api_key_auth with the PostgreSQL store, key in the cache
//   uncached   the same with the cache off: one prepared SELECT per request
//   classic    what most services do: SELECT by hash, then UPDATE last_used
//              on every request, over one libpqxx connection
//
// and the rows UPDATEd for 10 000 verifications of 10 keys by each way,
// read from pg_stat_user_tables (n_tup_upd).
//
//   PORTCULLIS_PG_URL=postgresql://... ./build/bench/api_key_bench
#include "portcullis/api_key_auth.hpp"
#include "portcullis/postgres/api_key_store.hpp"

#include <benchmark/benchmark.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <pqxx/pqxx>

#include <cstdlib>
#include <thread>

namespace {

using namespace portcullis;
using namespace std::chrono_literals;

template <typename T>
T run(asio::io_context& ioc, asio::awaitable<T> aw) {
  std::optional<T> out;
  asio::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e, T v) {
    if (e) std::rethrow_exception(e);
    out.emplace(std::move(v));
  });
  ioc.restart();
  ioc.run();
  return std::move(*out);
}

void run(asio::io_context& ioc, asio::awaitable<void> aw) {
  asio::co_spawn(ioc, std::move(aw), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  ioc.restart();
  ioc.run();
}

const char* pg_url() {
  return std::getenv("PORTCULLIS_PG_URL");
}

const api_key_hasher& hasher() {
  static const api_key_hasher h{{{.id = "bench", .secret = std::string(48, 'b')}}};
  return h;
}

// One store and ten keys, shared by every benchmark of the run.
struct fixture {
  std::shared_ptr<postgres_api_key_store> store;
  std::vector<issued_api_key> keys;

  static fixture& get() {
    static fixture f = [] {
      fixture f;
      postgres_api_key_store_options o;
      o.url = pg_url();
      o.connections = 2;
      f.store = std::make_shared<postgres_api_key_store>(o);
      asio::io_context ioc;
      for (int i = 0; i < 10; ++i) {
        f.keys.push_back(make_api_key({.owner = "bench-" + std::to_string(i)}, api_key_format{},
                                      hasher(), std::chrono::system_clock::now()));
        run(ioc, f.store->create(f.keys.back().record));
      }
      return f;
    }();
    return f;
  }
};

// The classic table and its two statements.
struct classic {
  pqxx::connection conn{pg_url()};
  classic() {
    pqxx::nontransaction n(conn);
    n.exec(
        "CREATE TABLE IF NOT EXISTS bench_classic_api_keys (id text PRIMARY KEY, owner text, "
        "hash bytea UNIQUE, revoked_at timestamptz, expires_at timestamptz, "
        "last_used_at timestamptz)");
    n.exec("TRUNCATE bench_classic_api_keys");
    for (const auto& k : fixture::get().keys)
      n.exec_params(
          "INSERT INTO bench_classic_api_keys (id, owner, hash) VALUES ($1, $2, decode($3, 'hex'))",
          k.record.id, k.record.owner, to_hex(k.record.hash));
    conn.prepare("select",
                 "SELECT id, owner, revoked_at, expires_at FROM bench_classic_api_keys "
                 "WHERE hash = decode($1, 'hex')");
    conn.prepare("update", "UPDATE bench_classic_api_keys SET last_used_at = now() WHERE id = $1");
  }
  bool verify(std::string_view key) {
    pqxx::nontransaction n(conn);
    auto r = n.exec_prepared("select", to_hex(hasher().digest(key)));
    if (r.empty() || !r[0][2].is_null()) return false;
    n.exec_prepared("update", r[0][0].as<std::string>());
    return true;
  }
};

std::int64_t updated_rows(const char* table) {
  // A backend's statistics reach the shared view when it disconnects (or,
  // idle, after up to 10 s): the measured connections are closed before
  // this is called, and a moment is left for the last of them.
  std::this_thread::sleep_for(1000ms);
  pqxx::connection c(pg_url());
  pqxx::nontransaction n(c);
  return n
      .exec_params(
          "SELECT coalesce(sum(n_tup_upd), 0)::bigint FROM pg_stat_user_tables "
          "WHERE relname = $1",
          std::string(table))[0][0]
      .as<std::int64_t>();
}

bool need_pg(benchmark::State& state) {
  if (pg_url()) return true;
  state.SkipWithError("PORTCULLIS_PG_URL is not set");
  return false;
}

void BM_verify_cached(benchmark::State& state) {
  if (!need_pg(state)) return;
  auto& f = fixture::get();
  api_key_auth auth({.store = f.store, .hasher = hasher(), .touch_interval = 1h});
  asio::io_context ioc;
  for (const auto& k : f.keys) run(ioc, auth.verify(k.key));
  std::size_t i = 0;
  for (auto _ : state) {
    auto v = auth.verify_cached(f.keys[i++ % f.keys.size()].key);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_verify_cached);

void BM_verify_cached_awaited(benchmark::State& state) {
  // The same through the coroutine interface a middleware uses: adds the
  // coroutine frame and one io_context run per call.
  if (!need_pg(state)) return;
  auto& f = fixture::get();
  api_key_auth auth({.store = f.store, .hasher = hasher(), .touch_interval = 1h});
  asio::io_context ioc;
  for (const auto& k : f.keys) run(ioc, auth.verify(k.key));
  std::size_t i = 0;
  for (auto _ : state) {
    auto v = run(ioc, auth.verify(f.keys[i++ % f.keys.size()].key));
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_verify_cached_awaited);

void BM_verify_uncached(benchmark::State& state) {
  if (!need_pg(state)) return;
  auto& f = fixture::get();
  api_key_auth auth({.store = f.store, .hasher = hasher(), .cache_size = 0, .touch_interval = 1h});
  asio::io_context ioc;
  std::size_t i = 0;
  for (auto _ : state) {
    auto v = run(ioc, auth.verify(f.keys[i++ % f.keys.size()].key));
    if (v.status != api_key_status::valid) state.SkipWithError("key not valid");
  }
}
BENCHMARK(BM_verify_uncached)->UseRealTime();

void BM_classic_select_update(benchmark::State& state) {
  if (!need_pg(state)) return;
  auto& f = fixture::get();
  classic c;
  std::size_t i = 0;
  for (auto _ : state)
    if (!c.verify(f.keys[i++ % f.keys.size()].key)) state.SkipWithError("key not valid");
}
BENCHMARK(BM_classic_select_update)->UseRealTime();

// 10 000 verifications of the 10 keys, then the rows PostgreSQL updated.
void BM_updates_per_10000_portcullis(benchmark::State& state) {
  if (!need_pg(state)) return;
  auto& f = fixture::get();
  for (auto _ : state) {
    const auto before = updated_rows("portcullis_api_keys");
    {
      // A store of its own, closed before counting (see updated_rows).
      postgres_api_key_store_options o;
      o.url = pg_url();
      o.migrate = false;
      auto store = std::make_shared<postgres_api_key_store>(o);
      api_key_auth auth({.store = store, .hasher = hasher(), .touch_interval = 10s});
      asio::io_context ioc;
      for (int i = 0; i < 10'000; ++i) run(ioc, auth.verify(f.keys[i % f.keys.size()].key));
      run(ioc, auth.flush());  // what shutdown or the next interval would write
    }
    state.counters["rows_updated"] =
        static_cast<double>(updated_rows("portcullis_api_keys") - before);
  }
}
BENCHMARK(BM_updates_per_10000_portcullis)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_updates_per_10000_classic(benchmark::State& state) {
  if (!need_pg(state)) return;
  auto& f = fixture::get();
  for (auto _ : state) {
    const auto before = updated_rows("bench_classic_api_keys");
    {
      classic c;
      for (int i = 0; i < 10'000; ++i) c.verify(f.keys[i % f.keys.size()].key);
    }
    state.counters["rows_updated"] =
        static_cast<double>(updated_rows("bench_classic_api_keys") - before);
  }
}
BENCHMARK(BM_updates_per_10000_classic)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
