// portcullis/ip_network.hpp — IP addresses and CIDR networks.
//
//     auto net = portcullis::ip_network::parse("10.0.0.0/8");
//     net.contains(*portcullis::parse_address("10.1.2.3"));     // true
//     portcullis::address_key(*parse_address("2001:db8:1:2ff::9"), 56);
//     // "2001:db8:1:200::/56": every /64 of one /56 shares one key
//
// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are treated as the IPv4
// address everywhere: in parsing, in matching and in keys.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace portcullis {

using ip_address = boost::asio::ip::address;

/// `::ffff:a.b.c.d` becomes `a.b.c.d`; any other address is returned as is.
ip_address unmap(const ip_address& a) noexcept;

/// Parses a bare IPv4 or IPv6 address (no brackets, no port, no zone id),
/// unmapped. Returns nothing for anything else; never throws.
std::optional<ip_address> parse_address(std::string_view text) noexcept;

/// An IPv4 or IPv6 network in CIDR form.
class ip_network {
 public:
  /// Parses "a.b.c.d/n", "x::y/n" or a bare address (a /32 or /128). Host
  /// bits below the prefix must be zero ("10.0.0.1/8" is refused: it is
  /// almost always a typo). Throws config_error naming the text.
  static ip_network parse(std::string_view text);

  /// Like parse(), without throwing.
  static std::optional<ip_network> try_parse(std::string_view text) noexcept;

  /// True when `a` (unmapped first) lies in this network. An IPv4 address
  /// is never inside an IPv6 network and the other way round.
  bool contains(const ip_address& a) const noexcept;

  const ip_address& address() const noexcept { return base_; }
  unsigned prefix_length() const noexcept { return prefix_; }
  /// True for 0.0.0.0/0 and ::/0.
  bool is_everything() const noexcept { return prefix_ == 0; }

  std::string to_string() const;

 private:
  ip_address base_;
  unsigned prefix_ = 0;
};

/// The rate-limit key of a client address: an IPv4 address as itself, an
/// IPv6 address as its network at `v6_prefix` bits ("2001:db8::/56"), so
/// that one host cannot rotate through the addresses it owns. `v6_prefix`
/// is clamped to 1..128.
std::string address_key(const ip_address& a, unsigned v6_prefix = 56);

}  // namespace portcullis
