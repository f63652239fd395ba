// Fuzz target of CORS origin matching: any bytes as the `Origin` value,
// against exact entries, wildcard entries and an anchored regex.
//
// Properties, for any bytes: cors::allows equals a reference written from
// the rule in cors.hpp, which normalises the origin by hand (lower-case
// scheme and host, default port dropped; anything but
// `scheme://host[:port]` or `null` is not an origin) and then compares it
// with the configured set:
//   exact      https://app.example.com, http://localhost:3000, null
//   wildcard   https://*.example.org (one or more labels in front, not the
//              domain itself, default port only)
//   regex      https://(www\.)?example\.net(:\d+)? (whole origin, any port)
#include "portcullis/cors.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "cors_origin property broken: %s\n", what);
  std::abort();
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

struct origin {
  std::string scheme, host;  // lower case; host with brackets for IPv6
  unsigned port = 0;         // 0: none or the default
};

// Parses a serialised origin; nothing for anything that is not one.
std::optional<origin> parse(std::string_view s) {
  const auto sep = s.find("://");
  if (sep == std::string_view::npos || sep == 0 || !is_alpha(s[0])) return std::nullopt;
  origin o;
  for (char c : s.substr(0, sep)) {
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return std::nullopt;
    o.scheme += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  std::string_view rest = s.substr(sep + 3), port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close < 3) return std::nullopt;
    for (char c : rest.substr(1, close - 1)) {
      const bool hex = is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      if (!hex && c != ':' && c != '.') return std::nullopt;
    }
    o.host = rest.substr(0, close + 1);
    rest.remove_prefix(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
  } else {
    const auto colon = rest.find(':');
    const auto name = rest.substr(0, colon);
    std::size_t label = 0;
    for (char c : name) {
      if (c == '.') {
        if (label == 0) return std::nullopt;
        label = 0;
      } else if (is_alpha(c) || is_digit(c) || c == '-' || c == '_') {
        ++label;
      } else {
        return std::nullopt;
      }
    }
    if (label == 0) return std::nullopt;
    o.host = name;
    rest.remove_prefix(name.size());
  }
  if (!rest.empty()) {
    port = rest.substr(1);  // after the ':'
    if (port.empty() || port.size() > 5 || port.front() == '0') return std::nullopt;
    for (char c : port)
      if (!is_digit(c)) return std::nullopt;
    o.port = static_cast<unsigned>(std::stoul(std::string(port)));
    if (o.port > 65535) return std::nullopt;
  }
  for (char& c : o.host)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if ((o.scheme == "http" && o.port == 80) || (o.scheme == "https" && o.port == 443)) o.port = 0;
  return o;
}

bool reference_allows(std::string_view raw) {
  if (raw == "null") return true;
  const auto o = parse(raw);
  if (!o) return false;
  const bool https = o->scheme == "https";
  if (https && o->port == 0 && o->host == "app.example.com") return true;
  if (o->scheme == "http" && o->port == 3000 && o->host == "localhost") return true;
  constexpr std::string_view org = ".example.org";
  if (https && o->port == 0 && o->host.size() > org.size() && o->host.ends_with(org)) return true;
  if (https && (o->host == "example.net" || o->host == "www.example.net")) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const portcullis::cors cors{[] {
    portcullis::cors_options o;
    o.production.origins = {"https://app.example.com", "http://localhost:3000", "null",
                            "https://*.example.org"};
    o.production.regexes = {R"(https://(www\.)?example\.net(:\d+)?)"};
    return o;
  }()};
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  if (cors.allows(raw) != reference_allows(raw)) broken("allows() differs from the reference");
  return 0;
}
