// What the chain costs: the same handler called bare and through a chain
// (route matching, client resolution, request id), with 0 and 3
// pass-through middleware, side by side in one run.
//
//   build/bench/chain_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include "portcullis/chain.hpp"

#include <benchmark/benchmark.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

namespace pc = portcullis;
namespace asio = boost::asio;

namespace {

asio::awaitable<pc::response> hello(pc::request& req, pc::context&) {
  pc::response res{pc::http::status::ok, req.version()};
  res.set(pc::http::field::content_type, "application/json");
  res.body() = R"({"status":"ok"})";
  res.prepare_payload();
  co_return res;
}

std::shared_ptr<const pc::middleware> pass_through() {
  return pc::make_middleware(
      [](pc::request& req, pc::context& ctx, pc::next_handler next) { return next(req, ctx); });
}

pc::request make_request() {
  pc::request req{pc::http::verb::get, "/api/items?page=2", 11};
  req.set(pc::http::field::host, "example.com");
  req.set(pc::http::field::user_agent, "bench");
  return req;
}

// Runs `call` once per benchmark iteration inside one coroutine.
template <typename Call>
void run(benchmark::State& state, Call call) {
  asio::io_context ioc{1};
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        auto req = make_request();
        for (auto _ : state) {
          pc::context ctx{asio::ip::make_address_v4("203.0.113.7")};
          auto res = co_await call(req, ctx);
          benchmark::DoNotOptimize(res);
        }
      },
      asio::detached);
  ioc.run();
}

void BM_bare_handler(benchmark::State& state) {
  run(state, [](pc::request& req, pc::context& ctx) { return hello(req, ctx); });
}

void BM_chain(benchmark::State& state) {
  pc::chain::builder b;
  for (int i = 0; i < state.range(0); ++i) b.use(pass_through());
  // A handful of routes before the one that matches, as in a real service.
  for (auto p : {"/health", "/users", "/auth/login", "/profile", "/api-keys/{id}"})
    b.route(pc::http::verb::get, p, hello);
  b.route(pc::http::verb::get, "/api/items", hello);
  auto app = std::move(b).build();
  run(state, [&app](pc::request& req, pc::context& ctx) { return app.handle(req, ctx); });
}

}  // namespace

BENCHMARK(BM_bare_handler);
BENCHMARK(BM_chain)->Arg(0)->Arg(3);
BENCHMARK_MAIN();
