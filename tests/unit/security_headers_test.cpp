#include "portcullis/security_headers.hpp"

#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"
#include "portcullis/errc.hpp"

#include <gtest/gtest.h>

#include <set>

namespace portcullis {
namespace {

request get(std::string target = "/page") {
  request req{http::verb::get, target, 11};
  req.set(http::field::host, "app.example");
  return req;
}

// A chain with the headers in front of a handler that returns `seen` nonce
// in its body and, on request, its own headers.
chain app(security_headers_options options,
          std::function<void(response&, context&)> decorate = {}) {
  chain::builder b;
  b.use(std::make_shared<security_headers>(std::move(options)));
  b.route(http::verb::get, "/page",
          [decorate](request& req, context& ctx) -> asio::awaitable<response> {
            response res{http::status::ok, req.version()};
            res.set(http::field::server, "Beast/1.81");
            res.set("X-Powered-By", "C++");
            res.body() = ctx.csp_nonce;
            if (decorate) decorate(res, ctx);
            res.prepare_payload();
            co_return res;
          });
  return std::move(b).build();
}

response run(const chain& c, request req, bool tls = false,
             ip_address peer = boost::asio::ip::make_address("203.0.113.9")) {
  context ctx{peer, tls};
  return run_blocking(c, req, ctx);
}

// Expects build() to throw config_error whose message contains `part`.
void expect_csp_error(const csp_builder& b, std::string_view part) {
  try {
    b.build();
    ADD_FAILURE() << "no error; expected one mentioning: " << part;
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("csp: ", 0), 0u) << e.what();
  }
}

TEST(security_headers, html_preset_sends_helmets_defaults) {
  auto res = run(app(security_headers_options::html()), get(), /*tls=*/true);
  EXPECT_EQ(res["Content-Security-Policy"],
            "default-src 'self'; base-uri 'self'; font-src 'self' https: data:; "
            "form-action 'self'; frame-ancestors 'self'; img-src 'self' data:; "
            "object-src 'none'; script-src 'self'; script-src-attr 'none'; "
            "style-src 'self' https: 'unsafe-inline'; upgrade-insecure-requests");
  EXPECT_EQ(res["Cross-Origin-Opener-Policy"], "same-origin");
  EXPECT_EQ(res["Cross-Origin-Resource-Policy"], "same-origin");
  EXPECT_EQ(res.count("Cross-Origin-Embedder-Policy"), 0u);
  EXPECT_EQ(res["Origin-Agent-Cluster"], "?1");
  EXPECT_EQ(res["Referrer-Policy"], "no-referrer");
  EXPECT_EQ(res[http::field::strict_transport_security], "max-age=31536000; includeSubDomains");
  EXPECT_EQ(res["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(res["X-DNS-Prefetch-Control"], "off");
  EXPECT_EQ(res["X-Download-Options"], "noopen");
  EXPECT_EQ(res[http::field::x_frame_options], "SAMEORIGIN");
  EXPECT_EQ(res["X-Permitted-Cross-Domain-Policies"], "none");
  EXPECT_EQ(res["X-XSS-Protection"], "0");
  // The server-revealing headers are gone; anonymous pages stay cacheable.
  EXPECT_EQ(res.count(http::field::server), 0u);
  EXPECT_EQ(res.count("X-Powered-By"), 0u);
  EXPECT_EQ(res.count(http::field::cache_control), 0u);
}

TEST(security_headers, api_preset_follows_the_owasp_rest_guidance) {
  auto c = app(security_headers_options::api());
  auto res = run(c, get(), /*tls=*/true);
  EXPECT_EQ(res["Content-Security-Policy"], "default-src 'none'; frame-ancestors 'none'");
  EXPECT_EQ(res[http::field::x_frame_options], "DENY");
  EXPECT_EQ(res[http::field::cache_control], "no-store");
  EXPECT_EQ(res["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(res[http::field::strict_transport_security], "max-age=31536000; includeSubDomains");

  // Also on answers the chain gives itself (a 404 here).
  auto nf = run(c, get("/nope"), true);
  EXPECT_EQ(nf.result(), http::status::not_found);
  EXPECT_EQ(nf[http::field::x_frame_options], "DENY");
  EXPECT_EQ(nf[http::field::cache_control], "no-store");
}

TEST(security_headers, hsts_only_over_https) {
  auto c = app(security_headers_options::api());
  EXPECT_EQ(run(c, get(), /*tls=*/false).count(http::field::strict_transport_security), 0u);
  EXPECT_EQ(run(c, get(), /*tls=*/true).count(http::field::strict_transport_security), 1u);

  // A trusted proxy's X-Forwarded-Proto counts; anybody else's does not.
  chain::builder b;
  b.forwarding({.trusted_proxies = {"10.0.0.0/8"}});
  b.use(std::make_shared<security_headers>());
  auto fc = std::move(b).build();
  auto req = get("/page");
  req.set("X-Forwarded-Proto", "https");
  req.set("X-Forwarded-For", "198.51.100.7");
  EXPECT_EQ(run(fc, req, false, boost::asio::ip::make_address("10.1.2.3"))
                .count(http::field::strict_transport_security),
            1u);
  EXPECT_EQ(run(fc, req, false, boost::asio::ip::make_address("198.51.100.7"))
                .count(http::field::strict_transport_security),
            0u);
}

TEST(security_headers, hsts_options_and_their_checks) {
  auto o = security_headers_options::api();
  o.hsts = hsts_options{.max_age = std::chrono::seconds(63072000), .preload = true};
  EXPECT_EQ(security_headers(o).hsts_value(), "max-age=63072000; includeSubDomains; preload");
  o.hsts = hsts_options{.max_age = std::chrono::seconds(0), .include_subdomains = false};
  EXPECT_EQ(security_headers(o).hsts_value(), "max-age=0");
  o.hsts = std::nullopt;
  EXPECT_EQ(run(app(o), get(), true).count(http::field::strict_transport_security), 0u);

  o.hsts = hsts_options{.max_age = std::chrono::seconds(86400), .preload = true};
  EXPECT_THROW(security_headers{o}, config_error);
  o.hsts = hsts_options{.include_subdomains = false, .preload = true};
  EXPECT_THROW(security_headers{o}, config_error);
  o.hsts = hsts_options{.max_age = std::chrono::seconds(-1)};
  EXPECT_THROW(security_headers{o}, config_error);
}

TEST(security_headers, each_header_can_be_changed_or_removed) {
  auto o = security_headers_options::html();
  o.x_frame_options = "DENY";
  o.referrer_policy = "no-referrer, strict-origin-when-cross-origin";
  o.cross_origin_embedder_policy = "require-corp";
  o.x_xss_protection = std::nullopt;
  o.x_dns_prefetch_control = std::nullopt;
  o.csp = std::nullopt;
  o.remove = {"X-Powered-By"};
  o.extra_headers = {{"Permissions-Policy", "camera=(), geolocation=()"}};
  auto res = run(app(o), get());
  EXPECT_EQ(res[http::field::x_frame_options], "DENY");
  EXPECT_EQ(res["Referrer-Policy"], "no-referrer, strict-origin-when-cross-origin");
  EXPECT_EQ(res["Cross-Origin-Embedder-Policy"], "require-corp");
  EXPECT_EQ(res["Permissions-Policy"], "camera=(), geolocation=()");
  EXPECT_EQ(res.count("X-XSS-Protection"), 0u);
  EXPECT_EQ(res.count("X-DNS-Prefetch-Control"), 0u);
  EXPECT_EQ(res.count("Content-Security-Policy"), 0u);
  EXPECT_EQ(res[http::field::server], "Beast/1.81");  // no longer removed
  EXPECT_EQ(res.count("X-Powered-By"), 0u);
}

TEST(security_headers, handler_headers_win_unless_overridden) {
  auto own = [](response& res, context&) {
    res.set(http::field::x_frame_options, "DENY");
    res.set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'");
    res.set(http::field::cache_control, "public, max-age=60");
  };
  auto o = security_headers_options::api();
  auto res = run(app(o, own), get());
  EXPECT_EQ(res["Content-Security-Policy"], "default-src 'self'; frame-ancestors 'none'");
  EXPECT_EQ(res[http::field::cache_control], "public, max-age=60");

  o.override_handler_headers = true;
  o.x_frame_options = "SAMEORIGIN";
  res = run(app(o, own), get());
  EXPECT_EQ(res[http::field::x_frame_options], "SAMEORIGIN");
  EXPECT_EQ(res.count(http::field::x_frame_options), 1u);
  EXPECT_EQ(res["Content-Security-Policy"], "default-src 'none'; frame-ancestors 'none'");
}

TEST(security_headers, no_store_when_the_response_carries_identity) {
  auto o = security_headers_options::html();  // when_identified
  auto authed = [](response&, context& ctx) {
    ctx.who.via = identity::method::api_key;
    ctx.who.subject = "u1";
  };
  auto cookie = [](response& res, context&) { res.set(http::field::set_cookie, "sid=x"); };
  EXPECT_EQ(run(app(o, authed), get())[http::field::cache_control], "no-store");
  EXPECT_EQ(run(app(o, cookie), get())[http::field::cache_control], "no-store");
  EXPECT_EQ(run(app(o), get()).count(http::field::cache_control), 0u);
  o.no_store = no_store_mode::never;
  EXPECT_EQ(run(app(o, authed), get()).count(http::field::cache_control), 0u);
}

TEST(security_headers, invalid_header_values_fail_at_build_naming_the_option) {
  auto expect = [](security_headers_options o, std::string_view part) {
    try {
      security_headers s{std::move(o)};
      ADD_FAILURE() << "no error for " << part;
    } catch (const config_error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  auto o = security_headers_options::html();
  o.x_frame_options = "SAMORIGIN";
  expect(o, "x_frame_options 'SAMORIGIN'");
  o = {};
  o.x_frame_options = "ALLOW-FROM https://a.example";
  expect(o, "x_frame_options");
  o = {};
  o.referrer_policy = "no-referrer, origin-when-crossorigin";
  expect(o, "referrer_policy 'origin-when-crossorigin'");
  o = {};
  o.cross_origin_opener_policy = "same";
  expect(o, "cross_origin_opener_policy");
  o = {};
  o.origin_agent_cluster = "true";
  expect(o, "origin_agent_cluster");
  o = {};
  o.extra_headers = {{"Permissions-Policy", "a\r\nSet-Cookie: x=1"}};
  expect(o, "extra header 'Permissions-Policy'");
  o = {};
  o.extra_headers = {{"Bad Name", "x"}};
  expect(o, "extra header");
  o = {};
  o.remove = {"Server:"};
  expect(o, "remove lists 'Server:'");
  o = {};
  o.csp = csp_builder{};
  expect(o, "csp: the policy has no directives");
}

// -- CSP builder --------------------------------------------------------------

TEST(security_headers, csp_validation_messages) {
  expect_csp_error(csp_builder::api().directive("scirpt-src", {"'self'"}),
                   "directive 'scirpt-src' is not defined by CSP");
  expect_csp_error(csp_builder::api().directive("Script-Src", {"'self'"}),
                   "directive name 'Script-Src' is invalid");
  expect_csp_error(csp_builder::api().directive("default-src", {"'self'"}),
                   "directive 'default-src' is given twice");
  expect_csp_error(csp_builder().directive("default-src", {"self"}),
                   "keyword 'self' must be quoted: write \"'self'\"");
  expect_csp_error(csp_builder().directive("default-src", {"'self'", "unsafe-inline"}),
                   "keyword 'unsafe-inline' must be quoted");
  expect_csp_error(
      csp_builder().directive("default-src", {"'self'"}).directive("script-src", {"nonce-abc"}),
      "'nonce-abc' must be in single quotes");
  expect_csp_error(
      csp_builder().directive("default-src", {"'self'"}).directive("script-src", {"'nonce-abc'"}),
      "fixed nonce 'nonce-abc'");
  expect_csp_error(csp_builder().directive("default-src", {"sha256-abc="}),
                   "must be in single quotes");
  expect_csp_error(csp_builder().directive("default-src", {"'selff'"}),
                   "'selff' is not a CSP keyword or hash");
  expect_csp_error(csp_builder().directive("default-src", {"https://a.example;script-src"}),
                   "contains ';'");
  expect_csp_error(csp_builder().directive("default-src", {"https://a.example,b"}), "contains ','");
  expect_csp_error(csp_builder().directive("default-src", {"'self' https:"}),
                   "contains whitespace");
  expect_csp_error(csp_builder().directive("default-src", {"'self'", ""}), "empty value");
  expect_csp_error(csp_builder().directive("default-src", {"'none'", "'self'"}),
                   "mixes 'none' with other sources");
  expect_csp_error(csp_builder().directive("default-src", {}),
                   "'default-src' has no values; write 'none'");
  expect_csp_error(csp_builder().directive("script-src", {"'self'"}), "has no default-src");
  expect_csp_error(csp_builder::api().directive("upgrade-insecure-requests", {"yes"}),
                   "'upgrade-insecure-requests' takes no values");
  expect_csp_error(csp_builder::api().report_to("bad group"), "'report-to' takes one group name");
  expect_csp_error(csp_builder::api().nonce(), "nonce() needs a script-src or style-src");
  expect_csp_error(csp_builder::api().directive("script-src", {"'none'"}).nonce(),
                   "'script-src' is 'none', so a nonce cannot be added");
  expect_csp_error(csp_builder(), "no directives");

  // Accepted: hashes, keywords, hosts, schemes; no default-src on purpose.
  auto p = csp_builder()
               .directive("script-src", {"'self'", "'sha256-abc+/='", "'strict-dynamic'",
                                         "https://cdn.example.com", "data:"})
               .without_default_src()
               .build();
  EXPECT_EQ(p.value(),
            "script-src 'self' 'sha256-abc+/=' 'strict-dynamic' "
            "https://cdn.example.com data:");
}

TEST(security_headers, csp_builder_edits_report_only_and_report_to) {
  auto b = csp_builder::html();
  b.replace("img-src", {"'self'", "https://img.example.com"})
      .remove("upgrade-insecure-requests")
      .remove("no-such-directive")
      .report_to("csp-endpoint")
      .report_only();
  auto p = b.build();
  EXPECT_EQ(p.header_name(), "Content-Security-Policy-Report-Only");
  auto v = p.value();
  EXPECT_NE(v.find("img-src 'self' https://img.example.com;"), std::string::npos) << v;
  EXPECT_EQ(v.find("upgrade-insecure-requests"), std::string::npos) << v;
  EXPECT_TRUE(v.ends_with("; report-to csp-endpoint")) << v;

  auto o = security_headers_options::api();
  o.csp = csp_builder::api().report_only();
  auto res = run(app(o), get());
  EXPECT_EQ(res.count("Content-Security-Policy"), 0u);
  EXPECT_EQ(res["Content-Security-Policy-Report-Only"],
            "default-src 'none'; frame-ancestors 'none'");
}

TEST(security_headers, nonce_is_fresh_per_request_and_reaches_the_handler) {
  auto o = security_headers_options::html();
  o.csp->nonce();
  auto c = app(o);
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto res = run(c, get());
    const std::string nonce = res.body();  // the handler echoes ctx.csp_nonce
    ASSERT_EQ(nonce.size(), 24u) << nonce;
    EXPECT_TRUE(seen.insert(nonce).second) << "nonce repeated: " << nonce;
    auto csp = std::string(res["Content-Security-Policy"]);
    EXPECT_NE(csp.find("script-src 'self' 'nonce-" + nonce + "';"), std::string::npos) << csp;
    EXPECT_NE(csp.find("style-src 'self' https: 'unsafe-inline' 'nonce-" + nonce + "';"),
              std::string::npos)
        << csp;
  }
  EXPECT_EQ(c.counters()[1]->value("nonces"), 50u);
  EXPECT_EQ(c.counters()[1]->value("responses"), 50u);

  // Without nonce() the context stays empty.
  EXPECT_EQ(run(app(security_headers_options::html()), get()).body(), "");
}

TEST(security_headers, make_csp_nonce_is_base64_of_128_bits) {
  auto n = make_csp_nonce();
  EXPECT_EQ(n.size(), 24u);
  EXPECT_TRUE(n.ends_with("=="));
  EXPECT_NE(n, make_csp_nonce());
  auto p = csp_builder::html().nonce().build();
  EXPECT_THROW(p.value("abc\"onload"), std::invalid_argument);
}

}  // namespace
}  // namespace portcullis
