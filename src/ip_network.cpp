#include "portcullis/ip_network.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/errc.hpp"

#include <algorithm>
#include <charconv>

namespace portcullis {

namespace ip = boost::asio::ip;

ip_address unmap(const ip_address& a) noexcept {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

std::optional<ip_address> parse_address(std::string_view text) noexcept {
  // Asio accepts zone ids ("fe80::1%eth0"); a client-supplied zone id is
  // meaningless here, so refuse it along with anything else unusual.
  if (text.empty() || text.size() > 45) return std::nullopt;
  for (char c : text) {
    bool ok = detail::is_ascii_xdigit(c) || c == '.' || c == ':';
    if (!ok) return std::nullopt;
  }
  char buf[46];
  std::copy(text.begin(), text.end(), buf);
  buf[text.size()] = '\0';
  boost::system::error_code ec;
  auto a = ip::make_address(buf, ec);
  if (ec) return std::nullopt;
  return unmap(a);
}

namespace {

// Zeroes every bit of `bytes` after the first `prefix`.
template <typename Bytes>
void mask(Bytes& bytes, unsigned prefix) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    unsigned bit = static_cast<unsigned>(i) * 8;
    if (bit >= prefix) {
      bytes[i] = 0;
    } else if (prefix - bit < 8) {
      bytes[i] &= static_cast<unsigned char>(0xff << (8 - (prefix - bit)));
    }
  }
}

}  // namespace

std::optional<ip_network> ip_network::try_parse(std::string_view text) noexcept {
  auto slash = text.find('/');
  auto addr = parse_address(text.substr(0, slash));
  if (!addr) return std::nullopt;
  const bool written_as_v6 = text.substr(0, slash).find(':') != std::string_view::npos;
  unsigned max = written_as_v6 ? 128 : 32;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc{} || end != digits.data() + digits.size() || prefix > max)
      return std::nullopt;
    // A mapped v6 network ("::ffff:10.0.0.0/104") becomes the v4 network.
  }
  if (addr->is_v4() && written_as_v6) {
    if (prefix < 96) return std::nullopt;
    prefix -= 96;
  }

  // Host bits must be zero.
  bool host_bits_clear;
  if (addr->is_v4()) {
    auto b = addr->to_v4().to_bytes();
    auto m = b;
    mask(m, prefix);
    host_bits_clear = b == m;
  } else {
    auto b = addr->to_v6().to_bytes();
    auto m = b;
    mask(m, prefix);
    host_bits_clear = b == m;
  }
  if (!host_bits_clear) return std::nullopt;

  ip_network n;
  n.base_ = *addr;
  n.prefix_ = prefix;
  return n;
}

ip_network ip_network::parse(std::string_view text) {
  if (auto n = try_parse(text)) return *n;
  throw config_error("ip_network: '" + std::string(text.substr(0, 64)) +
                     "' is not an address or a CIDR network with its host bits zero "
                     "(write e.g. 10.0.0.0/8 or 2001:db8::/32)");
}

bool ip_network::contains(const ip_address& raw) const noexcept {
  ip_address a = unmap(raw);
  if (a.is_v4() != base_.is_v4()) return false;
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    mask(b, prefix_);
    return b == base_.to_v4().to_bytes();
  }
  auto b = a.to_v6().to_bytes();
  mask(b, prefix_);
  return b == base_.to_v6().to_bytes();
}

std::string ip_network::to_string() const {
  return base_.to_string() + "/" + std::to_string(prefix_);
}

std::string address_key(const ip_address& raw, unsigned v6_prefix) {
  ip_address a = unmap(raw);
  if (a.is_v4()) return a.to_string();
  v6_prefix = std::clamp(v6_prefix, 1u, 128u);
  auto b = a.to_v6().to_bytes();
  mask(b, v6_prefix);
  return ip::address_v6(b).to_string() + "/" + std::to_string(v6_prefix);
}

}  // namespace portcullis
