#include "portcullis/content_type.hpp"

#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"
#include "portcullis/errc.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

namespace portcullis {
namespace {

// The body the handler saw, and its Content-Length/Encoding.
handler echo() {
  return [](request& req, context&) -> asio::awaitable<response> {
    response res{http::status::ok, req.version()};
    res.body() = req.body();
    res.set("X-Seen-Length", req[http::field::content_length]);
    res.set("X-Seen-Encoding", req[http::field::content_encoding]);
    res.prepare_payload();
    co_return res;
  };
}

chain app(std::shared_ptr<const middleware> mw) {
  chain::builder b;
  b.use(std::move(mw));
  b.route(http::verb::post, "/in", echo());
  b.route(http::verb::patch, "/in", echo());
  b.route(http::verb::get, "/in", echo());
  return std::move(b).build();
}

response send(const chain& c, http::verb v, std::string body,
              std::vector<std::pair<std::string, std::string>> headers) {
  request req{v, "/in", 11};
  req.set(http::field::host, "a");
  for (const auto& [n, val] : headers) req.insert(n, val);
  req.body() = std::move(body);
  if (!req.body().empty()) req.prepare_payload();
  context ctx;
  return run_blocking(c, req, ctx);
}

std::string compress(std::string_view data, int window_bits) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, window_bits, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}
std::string gzip(std::string_view d) {
  return compress(d, 16 + MAX_WBITS);
}

TEST(content_type, media_type_parsing) {
  EXPECT_EQ(media_type_of("application/json"), "application/json");
  EXPECT_EQ(media_type_of(" Application/JSON ; charset=UTF-8"), "application/json");
  EXPECT_EQ(media_type_of("multipart/form-data; boundary=x"), "multipart/form-data");
  EXPECT_EQ(media_type_of("json"), "");
  EXPECT_EQ(media_type_of("application/"), "");
  EXPECT_EQ(media_type_of("application/json x"), "");
  EXPECT_EQ(media_type_of(""), "");

  EXPECT_EQ(media_type_parameter("text/plain; charset=utf-8", "charset"), "utf-8");
  EXPECT_EQ(media_type_parameter("multipart/form-data; BOUNDARY=\"a b;c\\\"d\"", "boundary"),
            "a b;c\"d");
  EXPECT_EQ(media_type_parameter("a/b; x=1; y=2", "y"), "2");
  EXPECT_EQ(media_type_parameter("a/b; x=\"1\"; y=2", "y"), "2");
  EXPECT_EQ(media_type_parameter("a/b; x=\"\"", "x"), "");
  EXPECT_FALSE(media_type_parameter("a/b", "x"));
  EXPECT_FALSE(media_type_parameter("a/b; x=\"open", "x"));
}

TEST(content_type, allowlist_refuses_other_types_with_415) {
  auto c = app(std::make_shared<content_type_allowlist>());  // application/json
  EXPECT_EQ(send(c, http::verb::post, "{}", {{"Content-Type", "application/json"}}).body(), "{}");
  EXPECT_EQ(send(c, http::verb::post, "{}", {{"Content-Type", "application/JSON; charset=utf-8"}})
                .result(),
            http::status::ok);

  for (auto ct : {"text/plain", "application/jsonx", "application/x-www-form-urlencoded",
                  "application", ""}) {
    auto res = send(c, http::verb::post, "{}", {{"Content-Type", ct}});
    EXPECT_EQ(res.result(), http::status::unsupported_media_type) << ct;
    EXPECT_EQ(nlohmann::json::parse(res.body()),
              nlohmann::json::parse(R"({"error":"unsupported media type",
                                        "details":{"accepted":["application/json"]}})"));
    EXPECT_EQ(res["Accept-Post"], "application/json");
  }
  // A body without any Content-Type, and with two.
  EXPECT_EQ(send(c, http::verb::post, "{}", {}).result(), http::status::unsupported_media_type);
  auto two = send(c, http::verb::patch, "{}",
                  {{"Content-Type", "application/json"}, {"Content-Type", "text/html"}});
  EXPECT_EQ(two.result(), http::status::unsupported_media_type);
  EXPECT_EQ(two["Accept-Patch"], "application/json");

  // No body: nothing to check.
  EXPECT_EQ(send(c, http::verb::get, "", {{"Content-Type", "text/plain"}}).result(),
            http::status::ok);
  EXPECT_EQ(c.counters()[1]->value("refused"), 7u);
  EXPECT_EQ(c.counters()[1]->value("accepted"), 2u);
}

TEST(content_type, allowlist_ranges_and_options) {
  content_type_allowlist a{{.allowed = {"image/*", "Multipart/Form-Data"}}};
  EXPECT_TRUE(a.allows("image/png"));
  EXPECT_TRUE(a.allows("multipart/form-data; boundary=x"));
  EXPECT_FALSE(a.allows("imagex/png"));
  EXPECT_FALSE(a.allows("text/plain"));
  content_type_allowlist any{{.allowed = {"*/*"}}};
  EXPECT_TRUE(any.allows("text/plain"));
  EXPECT_FALSE(any.allows("garbage"));

  auto strict = app(
      std::make_shared<content_type_allowlist>(content_type_options{.check_empty_bodies = true}));
  EXPECT_EQ(send(strict, http::verb::get, "", {}).result(), http::status::unsupported_media_type);

  EXPECT_THROW(content_type_allowlist({.allowed = {}}), config_error);
  EXPECT_THROW(content_type_allowlist({.allowed = {"json"}}), config_error);
  EXPECT_THROW(content_type_allowlist({.allowed = {"application/json; charset=utf-8"}}),
               config_error);
  EXPECT_THROW(content_type_allowlist({.allowed = {"*/json"}}), config_error);
}

TEST(content_type, encoded_bodies_are_refused_by_default) {
  auto c = app(std::make_shared<content_encoding>());
  auto res = send(c, http::verb::post, gzip("{}"), {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(res.result(), http::status::unsupported_media_type);
  EXPECT_EQ(res[http::field::accept_encoding], "identity");
  EXPECT_EQ(res.body(), R"({"error":"content encoding not supported"})");
  // identity is no encoding at all.
  EXPECT_EQ(send(c, http::verb::post, "{}", {{"Content-Encoding", "identity"}}).body(), "{}");
  EXPECT_EQ(send(c, http::verb::post, "{}", {}).body(), "{}");
}

TEST(content_type, decompression_within_a_limit) {
  auto c = app(std::make_shared<content_encoding>(
      content_encoding_options{.policy = coding_policy::decompress, .max_decompressed = 1000}));
  std::string json = R"({"items":[1,2,3]})";

  auto res = send(c, http::verb::post, gzip(json), {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(res.body(), json);
  EXPECT_EQ(res["X-Seen-Length"], std::to_string(json.size()));
  EXPECT_EQ(res["X-Seen-Encoding"], "");
  EXPECT_EQ(send(c, http::verb::post, gzip(json), {{"Content-Encoding", "X-GZIP"}}).body(), json);
  EXPECT_EQ(send(c, http::verb::post, compress(json, MAX_WBITS), {{"Content-Encoding", "deflate"}})
                .body(),
            json);
  EXPECT_EQ(send(c, http::verb::post, compress(json, -MAX_WBITS), {{"Content-Encoding", "deflate"}})
                .body(),
            json);  // raw deflate, as some clients send it
  EXPECT_EQ(send(c, http::verb::post, gzip(std::string(1000, 'a')), {{"Content-Encoding", "gzip"}})
                .result(),
            http::status::ok);  // exactly at the limit

  // Unknown and stacked codings.
  auto br = send(c, http::verb::post, "xx", {{"Content-Encoding", "br"}});
  EXPECT_EQ(br.result(), http::status::unsupported_media_type);
  EXPECT_EQ(br[http::field::accept_encoding], "gzip, deflate, identity");
  EXPECT_EQ(
      send(c, http::verb::post, gzip(gzip(json)), {{"Content-Encoding", "gzip, gzip"}}).result(),
      http::status::unsupported_media_type);
  EXPECT_EQ(send(c, http::verb::post, gzip(gzip(json)),
                 {{"Content-Encoding", "gzip"}, {"Content-Encoding", "gzip"}})
                .result(),
            http::status::unsupported_media_type);

  // Corrupt, truncated, trailing garbage.
  auto z = gzip(json);
  EXPECT_EQ(send(c, http::verb::post, "not gzip at all", {{"Content-Encoding", "gzip"}}).result(),
            http::status::bad_request);
  EXPECT_EQ(
      send(c, http::verb::post, z.substr(0, z.size() - 6), {{"Content-Encoding", "gzip"}}).result(),
      http::status::bad_request);
  auto bad = send(c, http::verb::post, z + "extra", {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(bad.result(), http::status::bad_request);
  EXPECT_EQ(bad.body(), R"({"error":"body could not be decompressed"})");
}

TEST(content_type, a_gzip_bomb_stops_at_the_limit) {
  // 64 MiB of zeros compress to about 64 KB; the limit is 1 MiB.
  std::string zeros(64 << 20, '\0');
  auto bomb = gzip(zeros);
  zeros.clear();
  zeros.shrink_to_fit();
  ASSERT_LT(bomb.size(), 100u << 10);

  auto c = app(std::make_shared<content_encoding>(
      content_encoding_options{.policy = coding_policy::decompress, .max_decompressed = 1 << 20}));
  auto res = send(c, http::verb::post, bomb, {{"Content-Encoding", "gzip"}});
  EXPECT_EQ(res.result(), http::status::payload_too_large);
  EXPECT_EQ(res.body(), R"({"error":"decompressed body too large"})");
  EXPECT_EQ(c.counters()[1]->value("too_large"), 1u);

  // The function itself never holds more than the limit.
  std::string out;
  EXPECT_EQ(decompress_body("gzip", bomb, 1 << 20, out), decompress_status::too_large);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(decompress_body("compress", bomb, 1 << 20, out), decompress_status::unsupported);
  EXPECT_THROW(content_encoding({.max_decompressed = 0}), config_error);
}

}  // namespace
}  // namespace portcullis
