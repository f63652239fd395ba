// Fuzz target of client_resolver: forwarding headers (X-Forwarded-For or
// Forwarded, over one or several lines) from a peer that may or may not be
// a trusted proxy.
//
// Input: byte 0 picks the header kind, max_hops (1..8) and the peer; the
// rest, split at '\n', are the header's lines (X-Forwarded-Proto takes the
// line after a '\r'). Properties, for any bytes:
//  - the decision equals a plain reference written from the rule in
//    client_address.hpp: every element of every line in one list, the
//    rightmost max_hops of it walked from the right, stopping after the
//    first hop that is not a trusted proxy or at the first malformed one;
//  - an untrusted peer is always the client, whatever the headers say;
//  - every address the hop parser returns prints and parses back to itself.
#include "portcullis/client_address.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using portcullis::client_resolver;
using portcullis::forwarding_header;
using portcullis::forwarding_options;
using portcullis::ip_address;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "client_address property broken: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) broken(what);
}

const std::vector<std::string> trusted = {"10.0.0.0/8", "127.0.0.1", "2001:db8::/32", "::1"};

const std::array<std::string_view, 6> peers = {"127.0.0.1", "10.1.2.3",    "203.0.113.5",
                                               "::1",       "2001:db8::7", "::ffff:10.9.9.9"};

bool reference_trusted(const ip_address& a) {
  for (const auto& t : trusted)
    if (portcullis::ip_network::parse(t).contains(a)) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits a list at commas, trimming each element. In Forwarded (RFC 7239)
// a comma inside a quoted string does not split (a backslash there escapes
// the next character); X-Forwarded-For has no quoted strings. A quote left
// open at the end of a line was opened by the client, to the left of what
// the proxies appended: such a line is split at every comma, so that the
// quote cannot swallow the proxies' elements.
void split_list(std::string_view line, bool quotes, std::vector<std::string_view>& out) {
  const std::size_t before = out.size();
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (quotes && quoted && line[i] == '\\') {
      ++i;
    } else if (quotes && line[i] == '"') {
      quoted = !quoted;
    } else if (line[i] == ',' && !quoted) {
      out.push_back(trim(line.substr(start, i - start)));
      start = i + 1;
    }
  }
  if (quoted) {
    out.resize(before);
    split_list(line, false, out);
    return;
  }
  out.push_back(trim(line.substr(std::min(start, line.size()))));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// The `name=` parameter of a Forwarded element, unquoted; empty if absent.
std::string_view parameter(std::string_view element, std::string_view name) {
  std::vector<std::string_view> pairs;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= element.size(); ++i) {
    if (i == element.size() || element[i] == ';') {
      pairs.push_back(trim(element.substr(start, i - start)));
      start = i + 1;
    }
  }
  for (auto pair : pairs) {
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos || lower(trim(pair.substr(0, eq))) != name) continue;
    auto v = trim(pair.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return {};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool forwarded = (data[0] & 1) != 0;
  const std::size_t max_hops = 1 + ((data[0] >> 1) & 7);
  const auto raw_peer = *portcullis::parse_address(peers[(data[0] >> 4) % peers.size()]);
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  forwarding_options o;
  o.trusted_proxies = trusted;
  o.header = forwarded ? forwarding_header::forwarded : forwarding_header::x_forwarded_for;
  o.max_hops = max_hops;
  static const client_resolver resolvers[2][8] = {
      {client_resolver({trusted, forwarding_header::x_forwarded_for, 1}),
       client_resolver({trusted, forwarding_header::x_forwarded_for, 2}),
       client_resolver({trusted, forwarding_header::x_forwarded_for, 3}),
       client_resolver({trusted, forwarding_header::x_forwarded_for, 4}),
       client_resolver({trusted, forwarding_header::x_forwarded_for, 5}),
       client_resolver({trusted, forwarding_header::x_forwarded_for, 6}),
       client_resolver({trusted, forwarding_header::x_forwarded_for, 7}),
       client_resolver({trusted, forwarding_header::x_forwarded_for, 8})},
      {client_resolver({trusted, forwarding_header::forwarded, 1}),
       client_resolver({trusted, forwarding_header::forwarded, 2}),
       client_resolver({trusted, forwarding_header::forwarded, 3}),
       client_resolver({trusted, forwarding_header::forwarded, 4}),
       client_resolver({trusted, forwarding_header::forwarded, 5}),
       client_resolver({trusted, forwarding_header::forwarded, 6}),
       client_resolver({trusted, forwarding_header::forwarded, 7}),
       client_resolver({trusted, forwarding_header::forwarded, 8})}};
  const client_resolver& resolver = resolvers[forwarded ? 1 : 0][max_hops - 1];

  // The header lines; a '\r' in a line starts its X-Forwarded-Proto value.
  portcullis::http::fields headers;
  std::vector<std::string_view> lines;
  std::string_view proto;
  bool has_proto = false;
  for (std::size_t start = 0; start <= text.size();) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    auto line = text.substr(start, end - start);
    if (auto cr = line.find('\r'); cr != std::string_view::npos) {
      proto = line.substr(cr + 1);
      has_proto = true;
      line = line.substr(0, cr);
    }
    lines.push_back(line);
    start = end + 1;
  }
  for (auto line : lines) {
    if (forwarded) {
      headers.insert(portcullis::http::field::forwarded, line);
    } else {
      headers.insert("X-Forwarded-For", line);
    }
  }
  if (has_proto) headers.insert("X-Forwarded-Proto", proto);

  const auto info = resolver.resolve(raw_peer, headers);

  // The reference decision.
  const ip_address peer = portcullis::unmap(raw_peer);
  ip_address expected = peer;
  bool expected_https = false;
  const bool peer_trusted = reference_trusted(peer);
  if (peer_trusted) {
    std::vector<std::string_view> elements;
    for (auto line : lines) split_list(line, forwarded, elements);
    const std::size_t first = elements.size() > max_hops ? elements.size() - max_hops : 0;
    for (std::size_t i = elements.size(); i-- > first;) {
      auto hop = forwarded ? parameter(elements[i], "for") : elements[i];
      auto a = portcullis::detail::parse_hop(hop);
      if (!a) break;
      check(portcullis::parse_address(a->to_string()) == a, "a hop does not print back");
      expected = *a;
      if (!reference_trusted(*a)) break;
    }
    if (forwarded) {
      expected_https = lower(parameter(elements.back(), "proto")) == "https";
    } else if (has_proto) {
      std::vector<std::string_view> protos;
      split_list(proto, false, protos);
      expected_https = lower(protos.back()) == "https";
    }
  }

  check(info.address == expected, "client address differs from the reference");
  check(info.forwarded_https == expected_https, "forwarded https differs from the reference");
  check(info.untrusted_forwarding == !peer_trusted, "untrusted_forwarding is wrong");
  check(peer_trusted || info.address == peer, "an untrusted peer chose its address");
  check(!info.address.is_v6() || !info.address.to_v6().is_v4_mapped(), "a mapped address");
  return 0;
}
