// Sanitizing HTML, side by side in one run: gumbo's parse alone (the
// floor: every sanitizer on gumbo pays it) against parse + sanitize with
// the rich-text and strict presets, on the same inputs that
// bench/sanitize/node/bench.mjs gives DOMPurify on jsdom.
//
//     ./build/bench/bench_html_sanitizer --benchmark_repetitions=10 \
//         --benchmark_report_aggregates_only=true
//     bench/sanitize/compare.sh        # adds DOMPurify and prints ratios
#include "portcullis/html_sanitizer.hpp"

#include <benchmark/benchmark.h>
#include <gumbo.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The inputs: "readme" (a ~1 KB rich-text introduction), "large" (the
// same repeated to 64 KiB) and "xss" (the 223 payloads of the shared XSS
// cases, one sanitize call each).
const std::vector<std::string>& inputs(const std::string& name) {
  static const auto all = [] {
    std::map<std::string, std::vector<std::string>> m;
    const std::string readme = read_file(PORTCULLIS_BENCH_SANITIZE_DIR "/inputs/readme.html");
    m["readme"] = {readme};
    std::string large;
    while (large.size() + readme.size() <= 64 * 1024) large += readme;
    m["large"] = {large};
    std::ifstream cases(PORTCULLIS_CASES_DIR "/xss/dompurify_vectors.json");
    for (const auto& c : nlohmann::json::parse(cases))
      m["xss"].push_back(c.at("payload").get<std::string>());
    return m;
  }();
  return all.at(name);
}

void parse_only(benchmark::State& state, const std::string& name) {
  const auto& docs = inputs(name);
  std::size_t bytes = 0;
  for (auto _ : state) {
    for (const auto& doc : docs) {
      // The same document the sanitizer parses: prologue + input.
      std::string text = "<!DOCTYPE html><body>" + doc;
      GumboOptions options = kGumboDefaultOptions;
      options.max_errors = 0;
      GumboOutput* out = gumbo_parse_with_options(&options, text.data(), text.size());
      benchmark::DoNotOptimize(out->root);
      gumbo_destroy_output(&options, out);
      bytes += doc.size();
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void sanitize(benchmark::State& state, const std::string& name,
              const portcullis::html_sanitizer_options& options) {
  const portcullis::html_sanitizer sanitizer(options);
  const auto& docs = inputs(name);
  std::size_t bytes = 0;
  for (auto _ : state) {
    for (const auto& doc : docs) {
      auto result = sanitizer.sanitize(doc);
      benchmark::DoNotOptimize(result.html.data());
      bytes += doc.size();
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void register_all() {
  for (const char* name : {"readme", "large", "xss"}) {
    benchmark::RegisterBenchmark((std::string("gumbo_parse/") + name).c_str(),
                                 [n = std::string(name)](benchmark::State& s) { parse_only(s, n); })
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string("sanitize_rich_text/") + name).c_str(),
                                 [n = std::string(name)](benchmark::State& s) {
                                   sanitize(s, n, portcullis::html_sanitizer_options::rich_text());
                                 })
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((std::string("sanitize_strict/") + name).c_str(),
                                 [n = std::string(name)](benchmark::State& s) {
                                   sanitize(s, n, portcullis::html_sanitizer_options::strict());
                                 })
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
