#include "portcullis/ip_network.hpp"

#include "portcullis/errc.hpp"

#include <gtest/gtest.h>

namespace portcullis {
namespace {

TEST(ip_network, parses_and_contains) {
  auto n = ip_network::parse("10.0.0.0/8");
  EXPECT_TRUE(n.contains(*parse_address("10.255.0.1")));
  EXPECT_FALSE(n.contains(*parse_address("11.0.0.1")));
  EXPECT_TRUE(n.contains(*parse_address("::ffff:10.1.2.3")));  // mapped counts as v4
  EXPECT_FALSE(n.contains(*parse_address("::1")));

  auto v6 = ip_network::parse("2001:db8::/32");
  EXPECT_TRUE(v6.contains(*parse_address("2001:db8:ffff::1")));
  EXPECT_FALSE(v6.contains(*parse_address("2001:db9::1")));
  EXPECT_EQ(ip_network::parse("127.0.0.1").prefix_length(), 32u);
  EXPECT_EQ(ip_network::parse("::1").prefix_length(), 128u);
  EXPECT_EQ(ip_network::parse("::ffff:10.0.0.0/104").to_string(), "10.0.0.0/8");
  EXPECT_EQ(ip_network::parse("10.0.0.0/23").to_string(), "10.0.0.0/23");
  EXPECT_TRUE(ip_network::parse("10.0.0.0/23").contains(*parse_address("10.0.1.255")));
  EXPECT_FALSE(ip_network::parse("10.0.0.0/23").contains(*parse_address("10.0.2.0")));
}

TEST(ip_network, refuses_malformed_networks) {
  for (auto t : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.1/8", "10.0.0.0/8x",
                 "10.0.0.0/-1", "host", "fe80::1%eth0/64", "10.0.0.0/0008"})
    EXPECT_FALSE(ip_network::try_parse(t)) << t;
  EXPECT_THROW(ip_network::parse("10.0.0.1/8"), config_error);
}

TEST(ip_network, address_keys_group_ipv6_by_prefix) {
  EXPECT_EQ(address_key(*parse_address("1.2.3.4")), "1.2.3.4");
  EXPECT_EQ(address_key(*parse_address("::ffff:1.2.3.4")), "1.2.3.4");
  EXPECT_EQ(address_key(*parse_address("2001:db8:1234:56ff:abcd::9")), "2001:db8:1234:5600::/56");
  EXPECT_EQ(address_key(*parse_address("2001:db8:1234:56ff:abcd::9"), 64),
            "2001:db8:1234:56ff::/64");
  EXPECT_EQ(address_key(*parse_address("2001:db8::1"), 128), "2001:db8::1/128");
}

}  // namespace
}  // namespace portcullis
