// portcullis/client_address.hpp — who the client is, behind proxies.
//
// The TCP peer is the client unless the peer is a proxy you trust. Only
// then is a forwarding header believed, and only as far as it was written
// by proxies you trust: the list is walked from the right (the hop nearest
// to you) and the walk stops at the first address that is not a trusted
// proxy. Everything to the left of it was written by the client and could
// be anything.
//
//     portcullis::forwarding_options opts;
//     opts.trusted_proxies = {"10.0.0.0/8", "127.0.0.1"};
//     portcullis::client_resolver resolver{opts};
//     auto who = resolver.resolve(peer, req);   // who.address, who.https
//
// A malformed hop (not an address, `unknown`, an obfuscated RFC 7239 name)
// stops the walk at the last trusted address: a client can never choose its
// own address by sending garbage. Only a bounded number of hops is read.
#pragma once

#include "portcullis/http.hpp"
#include "portcullis/ip_network.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace portcullis {

/// Which forwarding header the trusted proxies write.
enum class forwarding_header {
  /// `X-Forwarded-For` (and `X-Forwarded-Proto`), the de-facto standard.
  x_forwarded_for,
  /// `Forwarded` (RFC 7239): its `for=` and `proto=` parameters.
  forwarded,
};

struct forwarding_options {
  /// Networks whose hosts are proxies you run (CIDR or bare addresses).
  /// Empty (the default): forwarding headers are never believed.
  std::vector<std::string> trusted_proxies;

  /// The header your proxies write. Only that one is read: a header your
  /// proxies do not write passes through them as the client sent it.
  forwarding_header header = forwarding_header::x_forwarded_for;

  /// At most this many hops (from the right) are examined. 1..256.
  std::size_t max_hops = 32;

  /// `0.0.0.0/0` or `::/0` in `trusted_proxies` lets every client choose
  /// its address; it is refused unless this is set.
  bool allow_trust_everyone = false;
};

/// What the resolver concluded about a request.
struct client_info {
  /// The client's address (unmapped).
  ip_address address;
  /// True when a trusted proxy said the client spoke HTTPS to it.
  bool forwarded_https = false;
  /// True when a forwarding header came from a peer that is not trusted
  /// (it was ignored; a sign that trusted_proxies is incomplete).
  bool untrusted_forwarding = false;
};

/// Applies forwarding_options. Immutable after construction; thread-safe.
class client_resolver {
 public:
  /// Throws config_error on a network that does not parse, on trusting
  /// everyone without allow_trust_everyone, or on max_hops out of range.
  explicit client_resolver(const forwarding_options& options = {});

  /// True when `a` is one of the trusted proxies.
  bool is_trusted(const ip_address& a) const noexcept;

  /// Resolves the client of a request that arrived from `peer`.
  client_info resolve(const ip_address& peer, const http::fields& headers) const;

  bool trusts_anyone() const noexcept { return !networks_.empty(); }

 private:
  std::vector<ip_network> networks_;
  forwarding_header header_;
  std::size_t max_hops_;
};

namespace detail {
/// Parses one hop of X-Forwarded-For ("1.2.3.4", "1.2.3.4:80", "::1",
/// "[::1]:80") or the value of a Forwarded `for=` ("\"[::1]:80\""
/// unquoted already). Nothing for anything else.
std::optional<ip_address> parse_hop(std::string_view hop) noexcept;
}  // namespace detail

}  // namespace portcullis
