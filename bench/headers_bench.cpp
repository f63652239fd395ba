// What the response-hardening middleware costs per request, beside a
// baseline in the same run (docs/performance.md, "Security headers,
// multipart, decompression").
//
//   chain_baseline            a chain with one route and no middleware
//   chain_security_headers    the same chain behind security_headers::api()
//   chain_headers_with_nonce  behind the html() preset with a CSP nonce
//   multipart_find_boundary   scanning a 1 MiB form for its boundaries only
//   multipart_parse           parse_multipart with limits and magic bytes
//   gunzip_baseline_memcpy    copying 1 MiB
//   gunzip_decompress_body    decompress_body of 1 MiB of JSON-like text
#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"
#include "portcullis/content_type.hpp"
#include "portcullis/multipart.hpp"
#include "portcullis/security_headers.hpp"

#include <benchmark/benchmark.h>
#include <zlib.h>

#include <cstring>

namespace {

using namespace portcullis;

chain make_chain(std::shared_ptr<const middleware> mw) {
  chain::builder b;
  if (mw) b.use(std::move(mw));
  b.route(http::verb::get, "/items", [](request& req, context&) -> asio::awaitable<response> {
    response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "application/json");
    res.body() = R"({"items":[]})";
    res.prepare_payload();
    co_return res;
  });
  return std::move(b).build();
}

void run_chain(benchmark::State& state, const chain& c) {
  request req{http::verb::get, "/items", 11};
  req.set(http::field::host, "api.example.com");
  for (auto _ : state) {
    context ctx;
    auto res = run_blocking(c, req, ctx);
    benchmark::DoNotOptimize(res);
  }
}

void chain_baseline(benchmark::State& state) {
  run_chain(state, make_chain(nullptr));
}

void chain_security_headers(benchmark::State& state) {
  run_chain(state, make_chain(std::make_shared<security_headers>(security_headers_options::api())));
}

void chain_headers_with_nonce(benchmark::State& state) {
  auto o = security_headers_options::html();
  o.csp->nonce();
  run_chain(state, make_chain(std::make_shared<security_headers>(std::move(o))));
}

// A form of 4 PNG files of 256 KiB each and a few fields.
const std::string boundary = "----bench7MA4YWxkTrZu0gW";
std::string make_form() {
  std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(256 << 10, '\x5a');
  std::string out;
  for (int i = 0; i < 4; ++i) {
    out += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"f" + std::to_string(i) +
           "\"; filename=\"p" + std::to_string(i) + ".png\"\r\nContent-Type: image/png\r\n\r\n" +
           png + "\r\n";
    out += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"n" + std::to_string(i) +
           "\"\r\n\r\nvalue\r\n";
  }
  return out + "--" + boundary + "--\r\n";
}

void multipart_find_boundary(benchmark::State& state) {
  auto body = make_form();
  const std::string delim = "\r\n--" + boundary;
  for (auto _ : state) {
    std::size_t n = 0;
    for (auto p = body.find(delim); p != std::string::npos; p = body.find(delim, p + 1)) ++n;
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}

void multipart_parse(benchmark::State& state) {
  auto body = make_form();
  auto type = "multipart/form-data; boundary=" + boundary;
  multipart_options o{.max_file_size = 1 << 20};
  for (auto _ : state) {
    auto form = parse_multipart(type, body, o);
    if (!form) state.SkipWithError(form.message.c_str());
    benchmark::DoNotOptimize(form);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}

std::string json_text() {
  std::string out = "[";
  for (int i = 0; out.size() < (1 << 20); ++i)
    out += R"({"id":)" + std::to_string(i) + R"(,"name":"item )" + std::to_string(i * 7) +
           R"(","tags":["a","b"]},)";
  out.back() = ']';
  return out;
}

std::string gzip(const std::string& d) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, d.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(d.data()));
  zs.avail_in = static_cast<uInt>(d.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void gunzip_baseline_memcpy(benchmark::State& state) {
  auto text = json_text();
  std::string out;
  for (auto _ : state) {
    out.assign(text.data(), text.size());
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void gunzip_decompress_body(benchmark::State& state) {
  auto text = json_text();
  auto z = gzip(text);
  std::string out;
  for (auto _ : state) {
    if (decompress_body("gzip", z, 2 << 20, out) != decompress_status::ok)
      state.SkipWithError("decompress failed");
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

BENCHMARK(chain_baseline);
BENCHMARK(chain_security_headers);
BENCHMARK(chain_headers_with_nonce);
BENCHMARK(multipart_find_boundary);
BENCHMARK(multipart_parse);
BENCHMARK(gunzip_baseline_memcpy);
BENCHMARK(gunzip_decompress_body);

}  // namespace

BENCHMARK_MAIN();
