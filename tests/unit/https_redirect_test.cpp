#include "portcullis/https_redirect.hpp"

#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"
#include "portcullis/errc.hpp"

#include <gtest/gtest.h>

namespace portcullis {
namespace {

chain app(https_redirect_options options, forwarding_options fwd = {}) {
  chain::builder b;
  b.forwarding(fwd);
  b.use(std::make_shared<https_redirect>(std::move(options)));
  auto ok = [](request& req, context&) -> asio::awaitable<response> {
    response res{http::status::ok, req.version()};
    res.body() = "served";
    res.prepare_payload();
    co_return res;
  };
  b.route(http::verb::get, "/items", ok);
  b.route(http::verb::post, "/items", ok);
  b.route(http::verb::get, "/health", ok);
  return std::move(b).build();
}

request make(http::verb v, std::string target, std::string host = "api.example.com") {
  request req{v, target, 11};
  if (!host.empty()) req.set(http::field::host, host);
  return req;
}

response run(const chain& c, request req, bool tls = false,
             ip_address peer = boost::asio::ip::make_address("198.51.100.4")) {
  context ctx{peer, tls};
  return run_blocking(c, req, ctx);
}

https_redirect_options standard() {
  return {.allowed_hosts = {"api.example.com", "www.example.com", "[::1]"},
          .exempt_paths = {"/health/"}};
}

TEST(https_redirect, get_and_head_are_redirected_with_308) {
  auto c = app(standard());
  auto res = run(c, make(http::verb::get, "/items?page=2&x=%20y"));
  EXPECT_EQ(res.result(), http::status::permanent_redirect);
  EXPECT_EQ(res[http::field::location], "https://api.example.com/items?page=2&x=%20y");
  EXPECT_EQ(res.body(), "");

  // The host comes from the allowlist, in its spelling, port dropped.
  res = run(c, make(http::verb::head, "/items", "WWW.Example.COM:80"));
  EXPECT_EQ(res.result(), http::status::permanent_redirect);
  EXPECT_EQ(res[http::field::location], "https://www.example.com/items");

  res = run(c, make(http::verb::get, "/items", "[::1]:8080"));
  EXPECT_EQ(res[http::field::location], "https://[::1]/items");

  // Absolute-form: the target's authority is the host (RFC 9112 §3.2.2).
  res = run(c, make(http::verb::get, "http://api.example.com/items?q", "ignored.example"));
  EXPECT_EQ(res[http::field::location], "https://api.example.com/items?q");
}

TEST(https_redirect, other_methods_get_403_and_https_passes) {
  auto c = app(standard());
  auto res = run(c, make(http::verb::post, "/items"));
  EXPECT_EQ(res.result(), http::status::forbidden);
  EXPECT_EQ(res.body(), R"({"error":"HTTPS is required"})");
  EXPECT_EQ(res.count(http::field::location), 0u);

  EXPECT_EQ(run(c, make(http::verb::post, "/items"), /*tls=*/true).body(), "served");
  EXPECT_EQ(run(c, make(http::verb::get, "/items", "evil.example"), true).body(), "served");
  // Exempt prefix (its trailing slash ignored), segment-wise.
  EXPECT_EQ(run(c, make(http::verb::get, "/health")).body(), "served");
  EXPECT_EQ(run(c, make(http::verb::get, "/healthz")).result(), http::status::permanent_redirect);

  auto counters = c.counters()[1];
  EXPECT_EQ(counters->value("refused"), 1u);
  EXPECT_EQ(counters->value("passed"), 3u);
  EXPECT_EQ(counters->value("redirected"), 1u);
}

TEST(https_redirect, hostile_host_values_never_reach_the_location) {
  auto c = app(standard());
  const char* hostile[] = {
      "evil.example",
      "api.example.com.evil.example",
      "evil.example/api.example.com",
      "api.example.com@evil.example",
      "user@api.example.com",
      "api.example.com:443@evil.example",
      "api.example.com:evil",
      "api.example.com:",
      "api.example.com:99999999",
      "api.example.com.",
      "api.example.com/",
      "api.example.com\\@evil.example",
      "api.example.com%2f.evil.example",
      "[::1",
      "[::1]evil",
      "[evil.example]",
      "",
      "api .example.com",
  };
  for (const char* h : hostile) {
    auto req = make(http::verb::get, "/items", "");
    req.set(http::field::host, h);
    auto res = run(c, req);
    EXPECT_EQ(res.result(), http::status::bad_request) << "Host: " << h;
    EXPECT_EQ(res.count(http::field::location), 0u) << "Host: " << h;
    EXPECT_EQ(res.body(), R"({"error":"unknown host"})") << "Host: " << h;
  }

  // No Host, two Hosts, a hostile absolute-form authority.
  EXPECT_EQ(run(c, make(http::verb::get, "/items", "")).result(), http::status::bad_request);
  auto two = make(http::verb::get, "/items");
  two.insert(http::field::host, "evil.example");
  EXPECT_EQ(run(c, two).result(), http::status::bad_request);
  EXPECT_EQ(run(c, make(http::verb::get, "http://evil.example/items")).result(),
            http::status::bad_request);
  EXPECT_EQ(run(c, make(http::verb::get, "http://api.example.com@evil.example/items")).result(),
            http::status::bad_request);
  EXPECT_EQ(c.counters()[1]->value("bad_host"), std::size(hostile) + 4);
}

TEST(https_redirect, the_path_cannot_change_the_host_of_the_location) {
  auto c = app(standard());
  // Paths that try to look like authorities stay paths under our host.
  auto res = run(c, make(http::verb::get, "//evil.example/x"));
  EXPECT_EQ(res[http::field::location], "https://api.example.com//evil.example/x");
  res = run(c, make(http::verb::get, "/items/\\evil.example"));
  EXPECT_EQ(res[http::field::location], "https://api.example.com/items/%5Cevil.example");
  res = run(c, make(http::verb::get, "/caf\xc3\xa9\"<x>"));
  EXPECT_EQ(res[http::field::location], "https://api.example.com/caf%C3%A9%22%3Cx%3E");
  // A target that is not a path is refused.
  EXPECT_EQ(run(c, make(http::verb::get, "*")).result(), http::status::bad_request);
}

TEST(https_redirect, trusted_proxy_https_counts_and_port_option) {
  auto o = standard();
  o.https_port = 8443;
  auto c = app(o, {.trusted_proxies = {"10.0.0.0/8"}});
  auto req = make(http::verb::get, "/items");
  req.set("X-Forwarded-Proto", "https");
  req.set("X-Forwarded-For", "198.51.100.4");
  EXPECT_EQ(run(c, req, false, boost::asio::ip::make_address("10.0.0.2")).body(), "served");
  // The same header from a client directly is not believed.
  auto res = run(c, req, false, boost::asio::ip::make_address("198.51.100.4"));
  EXPECT_EQ(res.result(), http::status::permanent_redirect);
  EXPECT_EQ(res[http::field::location], "https://api.example.com:8443/items");
}

TEST(https_redirect, refuse_policy_and_configuration_errors) {
  auto c = app({.policy = https_policy::refuse});
  EXPECT_EQ(run(c, make(http::verb::get, "/items")).result(), http::status::forbidden);

  auto expect = [](https_redirect_options o, std::string_view part) {
    try {
      https_redirect r{std::move(o)};
      ADD_FAILURE() << "no error for " << part;
    } catch (const config_error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect({}, "allowed_hosts is empty");
  expect({.allowed_hosts = {"https://api.example.com"}}, "'https://api.example.com'");
  expect({.allowed_hosts = {"api.example.com:443"}}, "is not a host name");
  expect({.allowed_hosts = {"a.example"}, .https_port = 0}, "https_port");
  expect({.allowed_hosts = {"a.example"}, .exempt_paths = {"health"}}, "exempt path 'health'");
}

}  // namespace
}  // namespace portcullis
