#include "portcullis/client_address.hpp"

#include "portcullis/errc.hpp"
#include "support/cases.hpp"

#include <gtest/gtest.h>

namespace portcullis {
namespace {

ip_address addr(std::string_view s) {
  auto a = parse_address(s);
  EXPECT_TRUE(a) << s;
  return a.value_or(ip_address{});
}

// Every case of ../shared/cases/forwarding/client_address.json.
TEST(client_address, shared_forwarding_cases) {
  auto file = test::load_cases("forwarding/client_address.json");
  const auto& cases = file.at("cases");
  test::expect_case_ids(
      cases, {"untrusted-peer-ignores-xff", "trusted-peer-uses-xff", "spoofed-left-entry",
              "chain-of-trusted", "all-trusted", "garbage-entry", "two-headers", "with-port",
              "forwarded-rfc7239", "ipv4-mapped", "ipv6-prefix-key", "ipv6-rotation-same-key",
              "huge-header", "underscore-header-ignored", "unknown-token", "bracketed-v6-with-port",
              "untrusted-last-hop-wins"});

  forwarding_options xff;
  xff.trusted_proxies = file.at("config").at("trusted_proxies").get<std::vector<std::string>>();
  auto fwd = xff;
  fwd.header = forwarding_header::forwarded;
  const client_resolver by_xff{xff}, by_forwarded{fwd};
  const unsigned v6_prefix = file.at("config").at("ipv6_prefix").get<unsigned>();

  for (const auto& c : cases) {
    const std::string id = c.at("id");
    SCOPED_TRACE(id);
    http::fields h;
    if (c.contains("x_forwarded_for")) {
      const auto& v = c.at("x_forwarded_for");
      if (v.is_array()) {
        for (const auto& line : v) h.insert("X-Forwarded-For", line.get<std::string>());
      } else if (v.get<std::string>() == "<10000 entries of 10.0.0.1>") {
        // Beast caps one field value below 64 KiB, so the 10 000 entries
        // arrive as two lines of 5 000, as a client would have to send them.
        std::string big;
        for (int i = 0; i < 5000; ++i) big += i ? ", 10.0.0.1" : "10.0.0.1";
        h.insert("X-Forwarded-For", big);
        h.insert("X-Forwarded-For", big);
      } else {
        h.insert("X-Forwarded-For", v.get<std::string>());
      }
    }
    if (c.contains("headers"))
      for (const auto& [k, v] : c.at("headers").items()) h.insert(k, v.get<std::string>());
    const auto& resolver = c.contains("forwarded") ? by_forwarded : by_xff;
    if (c.contains("forwarded"))
      h.insert(http::field::forwarded, c.at("forwarded").get<std::string>());

    auto peer = addr(c.at("peer").get<std::string>());
    auto info = resolver.resolve(peer, h);
    if (c.contains("client")) EXPECT_EQ(info.address, addr(c.at("client").get<std::string>()));
    if (c.contains("key")) EXPECT_EQ(address_key(info.address, v6_prefix), c.at("key"));
    if (id == "huge-header") {
      // Bounded: the answer is a trusted hop from the header (all are 10.0.0.1).
      EXPECT_EQ(info.address, addr("10.0.0.1"));
    }
    if (id == "forwarded-rfc7239") EXPECT_TRUE(info.forwarded_https);
  }
}

TEST(client_address, untrusted_peer_flags_the_header) {
  client_resolver r{{.trusted_proxies = {"10.0.0.0/8"}}};
  http::fields h;
  h.insert("X-Forwarded-For", "1.2.3.4");
  auto info = r.resolve(addr("203.0.113.1"), h);
  EXPECT_EQ(info.address, addr("203.0.113.1"));
  EXPECT_TRUE(info.untrusted_forwarding);
  EXPECT_FALSE(client_resolver{}.resolve(addr("203.0.113.1"), {}).untrusted_forwarding);
}

TEST(client_address, proto_only_from_a_trusted_peer) {
  client_resolver r{{.trusted_proxies = {"127.0.0.1"}}};
  http::fields h;
  h.insert("X-Forwarded-For", "198.51.100.9");
  h.insert("X-Forwarded-Proto", "https");
  EXPECT_TRUE(r.resolve(addr("127.0.0.1"), h).forwarded_https);
  EXPECT_FALSE(r.resolve(addr("203.0.113.1"), h).forwarded_https);
  h.set("X-Forwarded-Proto", "https, http");  // the nearest proxy speaks last
  EXPECT_FALSE(r.resolve(addr("127.0.0.1"), h).forwarded_https);
}

TEST(client_address, malformed_hops_never_become_the_client) {
  client_resolver r{{.trusted_proxies = {"127.0.0.1"}}};
  for (auto v : {"", ",", " , ", "1.2.3", "1.2.3.4.5", "[::1", "::1]:80",
                 "1.2.3.4:", "1.2.3.4:99999x", "fe80::1%eth0", "[1.2.3.4]:80", "_hidden",
                 "\"1.2.3.4\"", "1.2.3.4 5.6.7.8", "0x7f.1", "01.02.03.004"}) {
    http::fields h;
    h.insert("X-Forwarded-For", v);
    EXPECT_EQ(r.resolve(addr("127.0.0.1"), h).address, addr("127.0.0.1")) << v;
  }
}

// Found while writing the fuzz target's reference (corpus:
// regression-quote-xff, regression-open-quote-forwarded): a client's quote
// swallowed the element its proxy appended after it, so the walk stopped at
// the proxy and every such client took the proxy's address.
TEST(client_address, a_clients_open_quote_cannot_hide_the_proxys_hop) {
  client_resolver xff{{.trusted_proxies = {"127.0.0.1"}}};
  http::fields h;
  h.insert("X-Forwarded-For", "\", 198.51.100.1");
  EXPECT_EQ(xff.resolve(addr("127.0.0.1"), h).address, addr("198.51.100.1"));

  client_resolver fwd{{.trusted_proxies = {"127.0.0.1"}, .header = forwarding_header::forwarded}};
  http::fields f;
  f.insert(http::field::forwarded, "for=\"1.2.3.4, for=198.51.100.1");
  EXPECT_EQ(fwd.resolve(addr("127.0.0.1"), f).address, addr("198.51.100.1"));
  f.clear();
  f.insert(http::field::forwarded, "for=\"a\\\", for=198.51.100.2");  // escaped quote: still open
  EXPECT_EQ(fwd.resolve(addr("127.0.0.1"), f).address, addr("198.51.100.2"));
  // Balanced quotes keep their commas, as RFC 7239 allows.
  f.clear();
  f.insert(http::field::forwarded, "for=\"[2001:db8::1]:80\";x=\"a,b\", for=10.0.0.1");
  client_resolver fwd2{{.trusted_proxies = {"127.0.0.1", "10.0.0.0/8"},
                        .header = forwarding_header::forwarded}};
  EXPECT_EQ(fwd2.resolve(addr("127.0.0.1"), f).address, addr("2001:db8::1"));
}

TEST(client_address, configuration_errors) {
  EXPECT_THROW(client_resolver({.trusted_proxies = {"0.0.0.0/0"}}), config_error);
  EXPECT_THROW(client_resolver({.trusted_proxies = {"::/0"}}), config_error);
  EXPECT_NO_THROW(
      client_resolver({.trusted_proxies = {"0.0.0.0/0"}, .allow_trust_everyone = true}));
  EXPECT_THROW(client_resolver({.trusted_proxies = {"10.0.0.1/8"}}), config_error);
  EXPECT_THROW(client_resolver({.trusted_proxies = {"proxy.local"}}), config_error);
  EXPECT_THROW(client_resolver({.max_hops = 0}), config_error);
  try {
    client_resolver({.trusted_proxies = {"0.0.0.0/0"}});
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("trusted_proxies"), std::string::npos);
  }
}

}  // namespace
}  // namespace portcullis
