// What the cors middleware costs: origin decisions on their own, and a
// request through a chain with cors beside the same chain without it (the
// baseline, in the same run).
//
//     make -C build -j2 cors_bench
//     ./build/bench/cors_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"
#include "portcullis/cors.hpp"

#include <benchmark/benchmark.h>

namespace {

using namespace portcullis;

cors_options options() {
  cors_options o;
  o.log = logger{std::make_shared<null_sink>(), log_level::off};
  o.production.origins = {"https://app.example.com", "https://www.example.com",
                          "http://localhost:3000", "https://*.preview.example.com"};
  o.production.regexes = {R"(https://(admin|ops)-[0-9]+\.internal\.example\.com)"};
  o.credentials = true;
  o.allowed_headers = {"Content-Type", "Authorization", "X-API-Key"};
  o.exposed_headers = {"RateLimit-Limit", "RateLimit-Remaining"};
  return o;
}

void decide(benchmark::State& state, const char* origin) {
  cors c{options()};
  for (auto _ : state) benchmark::DoNotOptimize(c.allows(origin));
}
BENCHMARK_CAPTURE(decide, exact, "https://app.example.com");
BENCHMARK_CAPTURE(decide, exact_not_normalised, "https://APP.example.com:443");
BENCHMARK_CAPTURE(decide, wildcard, "https://pr-7.preview.example.com");
BENCHMARK_CAPTURE(decide, regex, "https://ops-12.internal.example.com");
BENCHMARK_CAPTURE(decide, denied, "https://app.example.com.evil.net");

chain make_chain(bool with_cors) {
  chain::builder b;
  if (with_cors) b.use(std::make_shared<cors>(options()));
  b.route(http::verb::get, "/items", [](request& req, context&) -> asio::awaitable<response> {
    response res{http::status::ok, req.version()};
    res.body() = "[]";
    res.prepare_payload();
    co_return res;
  });
  return std::move(b).build();
}

void through_chain(benchmark::State& state, bool with_cors, bool preflight) {
  chain c = make_chain(with_cors);
  request req{preflight ? http::verb::options : http::verb::get, "/items", 11};
  req.set(http::field::host, "api.example.com");
  req.set(http::field::origin, "https://app.example.com");
  if (preflight) {
    req.set(http::field::access_control_request_method, "GET");
    req.set(http::field::access_control_request_headers, "authorization,content-type");
  }
  for (auto _ : state) {
    context ctx;
    request r = req;
    benchmark::DoNotOptimize(run_blocking(c, r, ctx));
  }
}
BENCHMARK_CAPTURE(through_chain, baseline_get_without_cors, false, false);
BENCHMARK_CAPTURE(through_chain, get_with_cors, true, false);
BENCHMARK_CAPTURE(through_chain, preflight_answered_by_cors, true, true);

}  // namespace

BENCHMARK_MAIN();
