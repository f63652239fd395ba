// The reference server's remaining hardening over real HTTP: multipart
// uploads checked by magic bytes, API versions (path and header, with
// deprecation of the unversioned routes), HTTPS enforcement behind a
// trusted proxy and HSTS over TLS, and a handler that outlives the request
// timeout: 503, and its late answer never reaches the socket.
#include "support/raw_client.hpp"
#include "support/reference_server.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace portcullis {
namespace {

using test::raw_client;
using test::reference_server;
using json = nlohmann::json;
namespace bh = boost::beast::http;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// POST /upload

const std::string boundary = "portcullis-test-boundary";

struct file_part {
  std::string name;
  std::string filename;
  std::string type;
  std::string data;
};

std::string form_of(const std::vector<file_part>& files) {
  std::string body;
  for (const auto& f : files) {
    body += "--" + boundary + "\r\n";
    body += "Content-Disposition: form-data; name=\"" + f.name + "\"; filename=\"" + f.filename +
            "\"\r\n";
    body += "Content-Type: " + f.type + "\r\n\r\n";
    body += f.data + "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return body;
}

test::http_response upload(reference_server& srv, const std::string& body,
                           const std::string& type = "multipart/form-data; boundary=" + boundary) {
  return srv.request(bh::verb::post, "/upload", body, {{"Content-Type", type}});
}

const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + std::string(64, 'p');
const std::string pdf = "%PDF-1.7\n" + std::string(64, 'd');

TEST(secure_api_upload, files_are_checked_by_limits_and_magic_bytes) {
  reference_server srv{R"({"threads": 1,
      "upload": {"max_files": 2, "max_file_size": 1024,
                 "allowed_types": ["image/png", "application/pdf"]}})"};

  // Two allowed files: each answered with its size and digest.
  auto ok = upload(srv, form_of({{"a", "cat.png", "image/png", png},
                                 {"b", "../../etc/passwd.pdf", "application/pdf", pdf}}));
  ASSERT_EQ(ok.result(), bh::status::created) << ok.body();
  auto files = json::parse(ok.body())["files"];
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0]["type"], "image/png");
  EXPECT_EQ(files[0]["bytes"], png.size());
  EXPECT_EQ(files[0]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(files[1]["filename"].get<std::string>().find('/'), std::string::npos)
      << "a client's file name is never a path: " << files[1]["filename"];

  // A script that says it is a PNG: its bytes say otherwise.
  auto liar = upload(srv, form_of({{"a", "x.png", "image/png", "<script>alert(1)</script>"}}));
  EXPECT_EQ(liar.result(), bh::status::unsupported_media_type) << liar.body();
  EXPECT_NE(json::parse(liar.body())["error"].get<std::string>().find("image/png"),
            std::string::npos)
      << liar.body();

  // A type that is not allowed, even when its bytes match.
  auto gif = upload(srv, form_of({{"a", "x.gif", "image/gif", "GIF89a" + std::string(32, 'g')}}));
  EXPECT_EQ(gif.result(), bh::status::unsupported_media_type) << gif.body();

  // Limits: a third file, a file over max_file_size.
  auto three = upload(srv, form_of({{"a", "1.png", "image/png", png},
                                    {"b", "2.png", "image/png", png},
                                    {"c", "3.png", "image/png", png}}));
  EXPECT_EQ(three.result(), bh::status::payload_too_large) << three.body();
  auto big = upload(srv, form_of({{"a", "big.png", "image/png", png + std::string(2048, 'x')}}));
  EXPECT_EQ(big.result(), bh::status::payload_too_large) << big.body();

  // Not a form: refused before any parser.
  auto raw = upload(srv, png, "image/png");
  EXPECT_EQ(raw.result(), bh::status::unsupported_media_type) << raw.body();
  // A malformed form.
  auto broken = upload(srv, "--" + boundary + "\r\nnot a header\r\n\r\nx");
  EXPECT_EQ(broken.result(), bh::status::bad_request) << broken.body();
}

// A POST /users from `origin` announcing a body over the limit, without
// sending it; the server's answer.
std::optional<test::reply> post_too_large(const reference_server& srv, const std::string& origin) {
  raw_client c{srv.port()};
  if (!c.send("POST /users HTTP/1.1\r\nHost: localhost\r\nOrigin: " + origin +
              "\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n"))
    return std::nullopt;
  return c.read();
}

// A body over the limit is refused by the server before the chain runs;
// the answer still carries the CORS grant and the security headers, so that
// a page on an allowed origin can read why its request failed.
TEST(secure_api_body_limit, a_413_carries_the_cors_grant_and_security_headers) {
  reference_server srv{R"({"threads": 1, "allowed_origins": ["http://localhost:3000"]})"};
  auto r = post_too_large(srv, "http://localhost:3000");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << r->head;
  EXPECT_EQ(r->field("Access-Control-Allow-Origin"), "http://localhost:3000") << r->head;
  EXPECT_NE(r->field("Vary").find("Origin"), std::string::npos) << r->head;
  EXPECT_EQ(r->field("X-Content-Type-Options"), "nosniff") << r->head;
  EXPECT_EQ(json::parse(r->body).contains("error"), true) << r->body;

  // From an origin that is not allowed: no grant, the headers all the same.
  auto denied = post_too_large(srv, "https://evil.example");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 413);
  EXPECT_EQ(denied->field("Access-Control-Allow-Origin"), "") << denied->head;
  EXPECT_EQ(denied->field("X-Content-Type-Options"), "nosniff") << denied->head;
}

// ---------------------------------------------------------------------------
// Versioning

TEST(secure_api_versioning, path_and_header_versions_and_deprecated_unversioned_routes) {
  reference_server srv{R"({"threads": 1, "versioning": {"unversioned_deprecated": "2026-01-01",
                                                        "unversioned_sunset": "2027-06-30"}})"};

  // /v1: the current version, not deprecated.
  auto v1 = srv.request(bh::verb::get, "/v1/items");
  ASSERT_EQ(v1.result(), bh::status::ok);
  EXPECT_EQ(v1.count("Deprecation"), 0u);

  // An unknown path version: 404 naming the supported ones.
  auto v9 = srv.request(bh::verb::get, "/v9/items");
  EXPECT_EQ(v9.result(), bh::status::not_found);
  auto body = json::parse(v9.body());
  EXPECT_EQ(body["details"]["supported"], json::array({"v1"})) << v9.body();

  // The unversioned routes still answer, deprecated in favour of /v1.
  auto old = srv.request(bh::verb::get, "/items");
  ASSERT_EQ(old.result(), bh::status::ok);
  EXPECT_EQ(old["Deprecation"], "@1767225600") << "RFC 9745: 2026-01-01 as epoch seconds";
  EXPECT_EQ(old["Sunset"], "Wed, 30 Jun 2027 00:00:00 GMT") << "RFC 8594: an HTTP-date";
  EXPECT_NE(old[bh::field::link].find("</v1/>; rel=\"successor-version\""), std::string::npos)
      << old[bh::field::link];
  EXPECT_NE(old[bh::field::vary].find("Accept-Version"), std::string::npos);

  // Asking for v1 by header on an unversioned route: the current version.
  auto by_header = srv.request(bh::verb::get, "/items", "", {{"Accept-Version", "v1"}});
  ASSERT_EQ(by_header.result(), bh::status::ok);
  EXPECT_EQ(by_header.count("Deprecation"), 0u);
  EXPECT_EQ(
      srv.request(bh::verb::get, "/v1/items", "", {{"Accept-Version", "v0"}}).count("Deprecation"),
      0u)
      << "a path version wins over the header";
  // An unknown one by header: 400 naming the supported ones.
  auto bad = srv.request(bh::verb::get, "/items", "", {{"Accept-Version", "7"}});
  EXPECT_EQ(bad.result(), bh::status::bad_request);
  EXPECT_NE(bad.body().find("supported"), std::string::npos) << bad.body();
}

// ---------------------------------------------------------------------------
// HTTPS

TEST(secure_api_https, plain_http_behind_a_trusted_proxy_is_redirected_or_refused) {
  reference_server srv{R"({"threads": 1, "trusted_proxies": ["127.0.0.1/32"],
      "https": {"enforce": "redirect", "allowed_hosts": ["api.example.com"]}})"};

  auto via_http = [&](bh::verb m, std::string target, std::string host, std::string body = {}) {
    return srv.request(
        m, std::move(target), std::move(body),
        {{"Host", host}, {"X-Forwarded-For", "203.0.113.5"}, {"X-Forwarded-Proto", "http"}});
  };

  // The proxy says the client spoke plain HTTP: GET is sent to HTTPS with
  // 308, built from the allowlist, never from the client's Host text.
  auto get = via_http(bh::verb::get, "/items?page=2", "API.example.com:80");
  EXPECT_EQ(get.result(), bh::status::permanent_redirect);
  EXPECT_EQ(get[bh::field::location], "https://api.example.com/items?page=2");
  EXPECT_EQ(get.count("Strict-Transport-Security"), 0u) << "HSTS is never sent over plain HTTP";
  auto post = via_http(bh::verb::post, "/users", "api.example.com", R"({"email":"a@b.co"})");
  EXPECT_EQ(post.result(), bh::status::forbidden);
  auto evil = via_http(bh::verb::get, "/items", "evil.example");
  EXPECT_EQ(evil.result(), bh::status::bad_request);
  EXPECT_EQ(evil.count(bh::field::location), 0u);

  // The load balancer's health check stays reachable over plain HTTP.
  EXPECT_EQ(via_http(bh::verb::get, "/health", "api.example.com").result(), bh::status::ok);

  // Over HTTPS (as the trusted proxy says): served, with HSTS.
  auto secure = srv.request(bh::verb::get, "/items", "",
                            {{"Host", "api.example.com"},
                             {"X-Forwarded-For", "203.0.113.5"},
                             {"X-Forwarded-Proto", "https"}});
  EXPECT_EQ(secure.result(), bh::status::ok);
  EXPECT_NE(secure["Strict-Transport-Security"].find("max-age="), std::string::npos);
}

TEST(secure_api_versioning, without_a_deprecation_date_unversioned_routes_are_plain) {
  reference_server srv{R"({"threads": 1})"};
  auto res = srv.request(bh::verb::get, "/items");
  ASSERT_EQ(res.result(), bh::status::ok);
  EXPECT_EQ(res.count("Deprecation"), 0u);
  EXPECT_EQ(res[bh::field::vary].find("Accept-Version"), std::string::npos);
  EXPECT_EQ(srv.request(bh::verb::get, "/v2/items").result(), bh::status::not_found);
}

TEST(secure_api_https, an_untrusted_peer_cannot_claim_https) {
  // No trusted proxies: X-Forwarded-Proto from the peer is not believed.
  reference_server srv{R"({"threads": 1})"};
  auto res = srv.request(bh::verb::get, "/health", "",
                         {{"X-Forwarded-For", "203.0.113.5"}, {"X-Forwarded-Proto", "https"}});
  EXPECT_EQ(res.result(), bh::status::ok);
  EXPECT_EQ(res.count("Strict-Transport-Security"), 0u);
}

// A self-signed certificate for "localhost", made with the openssl CLI.
struct certificate {
  certificate() {
    dir = std::filesystem::temp_directory_path() /
          ("portcullis-ref-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout '" +
        (dir / "key.pem").string() + "' -out '" + (dir / "cert.pem").string() + "' 2>/dev/null";
    ok = std::system(cmd.c_str()) == 0;
  }
  ~certificate() { std::filesystem::remove_all(dir); }
  std::filesystem::path dir;
  bool ok = false;
};

TEST(secure_api_https, hsts_over_direct_tls) {
  certificate cert;
  ASSERT_TRUE(cert.ok) << "openssl could not make a certificate";
  json cfg = {{"threads", 1},
              {"tls",
               {{"certificate", (cert.dir / "cert.pem").string()},
                {"private_key", (cert.dir / "key.pem").string()}}},
              {"https", {{"enforce", "refuse"}}}};
  reference_server srv{cfg.dump()};
  raw_client c{srv.port()};
  ASSERT_TRUE(c.start_tls());
  ASSERT_TRUE(c.send("GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  auto r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->field("Strict-Transport-Security").find("max-age="), std::string::npos) << r->head;
}

// ---------------------------------------------------------------------------
// The request timeout

// True when nothing at all arrives on `fd` within `wait`: no byte, no close.
// Sets `closed` when the peer closed instead.
bool silent_for(int fd, std::chrono::milliseconds wait, bool& closed) {
  pollfd p{fd, POLLIN, 0};
  closed = false;
  if (::poll(&p, 1, static_cast<int>(wait.count())) == 0) return true;
  char c;
  auto n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  closed = n == 0 || (n < 0 && errno == ECONNRESET);
  return closed;
}

TEST(secure_api_timeout, a_slow_handler_gets_503_and_its_late_answer_never_reaches_the_socket) {
  reference_server srv{R"({"threads": 1, "development": true, "slow_route": true,
                           "request_timeout_ms": 300})"};
  raw_client c{srv.port()};
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.send("GET /slow?ms=1500 HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  auto r = c.read(3s);
  ASSERT_TRUE(r);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(json::parse(r->body)["error"], "request timed out");
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 1200ms) << "the 503 goes out at the deadline, not when the handler ends";

  // The handler swallows its cancellation and answers 200 anyway. That
  // answer is dropped: not one byte more arrives, well past the time the
  // handler would have finished.
  bool closed = false;
  EXPECT_TRUE(silent_for(c.fd(), 2000ms, closed)) << "bytes arrived after the 503";
  EXPECT_FALSE(closed) << "the connection stays open for the next request (docs/secure-api.md)";

  // And it serves the next request in order.
  ASSERT_TRUE(c.send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  auto next = c.read(3s);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(json::parse(next->body)["status"], "ok");

  // A handler deaf to cancellation holds the 503 until it returns (the
  // documented limit of cancellation); its own answer is dropped all the same.
  raw_client deaf{srv.port()};
  const auto deaf_start = std::chrono::steady_clock::now();
  ASSERT_TRUE(deaf.send("GET /slow?ms=1200&deaf=1 HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  auto late = deaf.read(5s);
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 503) << late->body;
  EXPECT_GE(std::chrono::steady_clock::now() - deaf_start, 1100ms);
  EXPECT_TRUE(silent_for(deaf.fd(), 1000ms, closed)) << "bytes arrived after the 503";
  EXPECT_FALSE(closed);

  // A handler within its deadline answers as usual.
  ASSERT_TRUE(c.send("GET /slow?ms=10 HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  auto fast = c.read(3s);
  ASSERT_TRUE(fast);
  EXPECT_EQ(fast->status, 200);
}

TEST(secure_api_timeout, the_slow_route_exists_only_in_development) {
  // Without the key (and it is refused outside development: see
  // secure_api_config in secure_api_test.cpp) there is no such route.
  reference_server srv{R"({"threads": 1})"};
  EXPECT_EQ(srv.request(bh::verb::get, "/slow?ms=1").result(), bh::status::not_found);
}

}  // namespace
}  // namespace portcullis
