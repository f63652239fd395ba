#include "portcullis/client_address.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/errc.hpp"

#include <array>

namespace portcullis {
namespace {

using detail::iequals;
using detail::trim_ows;

// True when every quoted string of `value` is closed (RFC 9110 §5.6.4: a
// backslash inside one escapes the next character).
bool quotes_balance(std::string_view value) {
  bool quoted = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (quoted && value[i] == '\\') {
      ++i;
    } else if (value[i] == '"') {
      quoted = !quoted;
    }
  }
  return !quoted;
}

// Keeps the rightmost `keep` (at most N) comma-separated elements of every
// line of a list header, in order, in a ring. With `quotes` (Forwarded:
// RFC 7239 allows quoted strings), commas inside quoted strings do not
// split. A line whose quotes do not balance is split at every comma: its
// open quote was written by the client, to the left of the elements that
// proxies appended, and must not swallow them (`for="` from a client
// followed by `, for=198.51.100.1` from the proxy would otherwise read as
// one malformed element, and the client would take the proxy's address).
// X-Forwarded-For has no quoted strings at all. Work is linear in the
// header's size.
template <std::size_t N>
class right_elements {
 public:
  explicit right_elements(std::size_t keep) : keep_(keep < N ? keep : N) {}

  void split(std::string_view value, bool quotes) {
    quotes = quotes && quotes_balance(value);
    bool quoted = false;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= value.size(); ++i) {
      if (i < value.size()) {
        char c = value[i];
        if (c == '\\' && quoted) {
          ++i;
          continue;
        }
        if (c == '"' && quotes) quoted = !quoted;
        if (c != ',' || quoted) continue;
      }
      push(trim_ows(value.substr(start, i - start)));
      start = i + 1;
    }
  }

  std::size_t size() const noexcept { return count_; }
  /// The i-th kept element from the left.
  std::string_view operator[](std::size_t i) const noexcept { return items_[(first_ + i) % keep_]; }

 private:
  void push(std::string_view e) {
    if (count_ < keep_) {
      items_[(first_ + count_++) % keep_] = e;
    } else {
      items_[first_] = e;
      first_ = (first_ + 1) % keep_;
    }
  }

  std::array<std::string_view, N> items_{};
  std::size_t keep_;
  std::size_t first_ = 0;
  std::size_t count_ = 0;
};

// The `for` or `proto` parameter of one Forwarded element, unquoted.
std::string_view forwarded_param(std::string_view element, std::string_view name) {
  while (!element.empty()) {
    auto semi = element.find(';');
    auto pair = trim_ows(element.substr(0, semi));
    element = semi == std::string_view::npos ? std::string_view{} : element.substr(semi + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (!iequals(trim_ows(pair.substr(0, eq)), name)) continue;
    auto v = trim_ows(pair.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return {};
}

}  // namespace

namespace detail {

std::optional<ip_address> parse_hop(std::string_view hop) noexcept {
  hop = trim_ows(hop);
  if (hop.empty() || hop.size() > 64) return std::nullopt;
  if (hop.front() == '[') {
    // "[v6]" or "[v6]:port"
    auto close = hop.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    auto rest = hop.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6) return std::nullopt;
      for (char c : rest.substr(1))
        if (c < '0' || c > '9') return std::nullopt;
    }
    auto a = parse_address(hop.substr(1, close - 1));
    if (!a || a->is_v4()) {
      // "[1.2.3.4]" is not a valid form; "[::ffff:1.2.3.4]" is, and unmaps.
      if (a && hop.substr(1, close - 1).find(':') != std::string_view::npos) return a;
      return std::nullopt;
    }
    return a;
  }
  auto colon = hop.find(':');
  if (colon != std::string_view::npos && hop.find(':', colon + 1) == std::string_view::npos) {
    // One colon: IPv4 with a port.
    auto port = hop.substr(colon + 1);
    if (port.empty() || port.size() > 5) return std::nullopt;
    for (char c : port)
      if (c < '0' || c > '9') return std::nullopt;
    auto a = parse_address(hop.substr(0, colon));
    if (!a || !a->is_v4()) return std::nullopt;
    return a;
  }
  return parse_address(hop);
}

}  // namespace detail

client_resolver::client_resolver(const forwarding_options& options)
    : header_(options.header), max_hops_(options.max_hops) {
  if (max_hops_ < 1 || max_hops_ > 256)
    throw config_error("forwarding_options.max_hops: must be between 1 and 256, got " +
                       std::to_string(max_hops_));
  for (const auto& text : options.trusted_proxies) {
    auto n = ip_network::try_parse(text);
    if (!n)
      throw config_error("forwarding_options.trusted_proxies: '" + text.substr(0, 64) +
                         "' is not an address or CIDR network with its host bits zero");
    if (n->is_everything() && !options.allow_trust_everyone)
      throw config_error("forwarding_options.trusted_proxies: '" + text +
                         "' trusts every address, so any client could choose its own; list "
                         "your proxies' networks (or set allow_trust_everyone)");
    networks_.push_back(*n);
  }
}

bool client_resolver::is_trusted(const ip_address& a) const noexcept {
  for (const auto& n : networks_)
    if (n.contains(a)) return true;
  return false;
}

client_info client_resolver::resolve(const ip_address& raw_peer,
                                     const http::fields& headers) const {
  client_info info;
  info.address = unmap(raw_peer);
  // Beast has no field enum for the X-Forwarded-* headers: look up by name.
  auto lines = header_ == forwarding_header::forwarded ? headers.equal_range(http::field::forwarded)
                                                       : headers.equal_range("X-Forwarded-For");
  if (lines.first == lines.second) return info;
  if (!is_trusted(info.address)) {
    info.untrusted_forwarding = true;
    return info;
  }

  // Collect the rightmost max_hops elements over every line, in order.
  right_elements<256> hops{max_hops_};
  const bool quotes = header_ == forwarding_header::forwarded;
  for (auto it = lines.first; it != lines.second; ++it) hops.split(it->value(), quotes);

  // Walk from the right. `info.address` is always the last trusted hop (or
  // the peer), so stopping at any point yields a safe answer.
  for (std::size_t i = hops.size(); i-- > 0;) {
    std::string_view hop = hops[i];
    if (header_ == forwarding_header::forwarded) hop = forwarded_param(hop, "for");
    auto a = detail::parse_hop(hop);
    if (!a) break;
    info.address = *a;
    if (!is_trusted(*a)) break;
  }

  // The scheme the client used, as the nearest proxy reports it.
  if (header_ == forwarding_header::forwarded) {
    auto proto = forwarded_param(hops[hops.size() - 1], "proto");
    info.forwarded_https = iequals(proto, "https");
  } else {
    right_elements<1> proto{1};
    for (auto [it, end] = headers.equal_range("X-Forwarded-Proto"); it != end; ++it)
      proto.split(it->value(), false);
    info.forwarded_https = proto.size() == 1 && iequals(proto[0], "https");
  }
  return info;
}

}  // namespace portcullis
