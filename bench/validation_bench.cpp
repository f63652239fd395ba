// Validation cost, side by side in one run: parsing alone against parsing
// and validating the same payloads, validating an already-parsed object,
// and a query string parsed and validated. The payloads are in
// bench/validation/payloads.json, shared with the Zod 4 run
// (bench/validation/node/bench.mjs); bench/validation/run compares both.
//
//   ./build/bench/validation_bench --benchmark_repetitions=10 \
//       --benchmark_report_aggregates_only=true
#include "validation/schemas.hpp"

#include "portcullis/json_body.hpp"
#include "portcullis/query_string.hpp"
#include "portcullis/schema.hpp"

#include <benchmark/benchmark.h>

namespace {

using portcullis::schema;
using json = nlohmann::json;
using validation_bench::payloads;
using validation_bench::schemas;

std::string text_of(const std::string& key) {
  return payloads().at(key).dump();
}

// nlohmann::json::parse: the parser a service would use without portcullis.
void nlohmann_parse(benchmark::State& state, std::string key) {
  std::string text = text_of(key);
  for (auto _ : state) benchmark::DoNotOptimize(json::parse(text));
}

// portcullis::parse_json: duplicate keys, depth and size checked.
void parse(benchmark::State& state, std::string key) {
  std::string text = text_of(key);
  for (auto _ : state) benchmark::DoNotOptimize(portcullis::parse_json(text));
}

void parse_validate(benchmark::State& state, std::string key) {
  std::string text = text_of(key);
  const schema& s = schemas().at(key);
  for (auto _ : state) {
    auto parsed = portcullis::parse_json(text);
    auto r = s.validate(std::move(parsed.value));
    if (!r.ok()) state.SkipWithError("payload does not validate");
    benchmark::DoNotOptimize(r);
  }
}

// Validation alone, of an already-parsed value. In place: a valid value
// with nothing to strip or transform is left as it is, so every iteration
// does the same work.
void validate(benchmark::State& state, std::string key) {
  json value = payloads().at(key);
  const schema& s = schemas().at(key);
  for (auto _ : state) {
    auto issues = s.validate_in_place(value);
    if (!issues.empty()) state.SkipWithError("payload does not validate");
    benchmark::DoNotOptimize(issues);
  }
}

// Parse, then validate another, long-lived parsed value: the work of
// parse_validate without the fresh tree. It costs what parse_validate
// costs, more than parse plus validate: what a validation costs after a
// parse rather than alone in a tight loop (docs/performance.md).
void parse_validate_other(benchmark::State& state, std::string key) {
  std::string text = text_of(key);
  json value = payloads().at(key);
  const schema& s = schemas().at(key);
  for (auto _ : state) {
    auto parsed = portcullis::parse_json(text);
    auto issues = s.validate_in_place(value);
    if (!issues.empty()) state.SkipWithError("payload does not validate");
    benchmark::DoNotOptimize(parsed);
    benchmark::DoNotOptimize(issues);
  }
}

void query_parse_validate(benchmark::State& state) {
  std::string text = payloads().at("query");
  const schema& s = schemas().at("items");
  for (auto _ : state) {
    auto parsed = portcullis::parse_query(text);
    auto r = s.validate_query(parsed.params);
    if (!r.ok()) state.SkipWithError("query does not validate");
    benchmark::DoNotOptimize(r);
  }
}

}  // namespace

BENCHMARK_CAPTURE(nlohmann_parse, user, "user");
BENCHMARK_CAPTURE(parse, user, "user");
BENCHMARK_CAPTURE(parse_validate, user, "user");
BENCHMARK_CAPTURE(validate, user, "user");
BENCHMARK_CAPTURE(parse_validate_other, user, "user");
BENCHMARK_CAPTURE(nlohmann_parse, five, "five");
BENCHMARK_CAPTURE(parse, five, "five");
BENCHMARK_CAPTURE(parse_validate, five, "five");
BENCHMARK_CAPTURE(validate, five, "five");
BENCHMARK_CAPTURE(parse_validate_other, five, "five");
BENCHMARK_CAPTURE(nlohmann_parse, order, "order");
BENCHMARK_CAPTURE(parse, order, "order");
BENCHMARK_CAPTURE(parse_validate, order, "order");
BENCHMARK_CAPTURE(validate, order, "order");
BENCHMARK_CAPTURE(parse_validate_other, order, "order");
BENCHMARK(query_parse_validate)->Name("query_parse_validate/items");

BENCHMARK_MAIN();
