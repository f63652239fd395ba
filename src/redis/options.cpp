#include "portcullis/redis/options.hpp"

#include "portcullis/errc.hpp"

#include <charconv>

namespace portcullis {
namespace {

[[noreturn]] void fail(std::string_view what) {
  throw config_error("redis: " + std::string(what));
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes one URL component. `part` names it in the error, whose
// text never includes the component itself (it may be a password).
std::string percent_decode(std::string_view text, std::string_view part) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    const int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
    if (hi < 0 || lo < 0)
      fail("the URL's " + std::string(part) +
           " has a '%' not followed by two hex digits; percent-encode '%' as %25");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

redis_server parse_host_port(std::string_view text) {
  redis_server s;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) fail("an IPv6 host in the URL lacks its closing ']'");
    s.host = std::string(text.substr(1, close - 1));
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') fail("expected ':port' after ']' in the URL");
      port_text = rest.substr(1);
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon != std::string_view::npos) {
      if (text.find(':') != colon)
        fail("an IPv6 host in the URL must be in brackets: redis://[::1]:6379");
      s.host = std::string(text.substr(0, colon));
      port_text = text.substr(colon + 1);
    } else {
      s.host = std::string(text);
    }
  }
  if (s.host.empty()) fail("the URL has no host: give one, as in redis://127.0.0.1:6379");
  if (!port_text.empty()) {
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535)
      fail("the URL's port '" + std::string(port_text) + "' is not a number in 1..65535");
    s.port = static_cast<std::uint16_t>(port);
  }
  return s;
}

}  // namespace

std::string redis_server::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

redis_options redis_options::parse_url(std::string_view url) {
  redis_options o;

  // The scheme decides between one server and cluster seeds.
  std::string_view rest;
  if (url.starts_with("redis://")) {
    rest = url.substr(8);
  } else if (url.starts_with("redis+cluster://")) {
    rest = url.substr(16);
    o.cluster = true;
  } else if (url.starts_with("rediss://") || url.starts_with("rediss+cluster://")) {
    fail(
        "TLS (rediss://) is not supported by hiredis 0.14; use redis:// on a trusted "
        "network or a TLS tunnel");
  } else {
    fail("the URL must start with redis:// or redis+cluster://");
  }

  // userinfo: everything before the last '@' (a password may contain '@'
  // only percent-encoded, but be lenient about where the host starts).
  const auto at = rest.rfind('@');
  if (at != std::string_view::npos) {
    const auto userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      // "redis://secret@host" is how some clients spell a bare password.
      o.password = percent_decode(userinfo, "password");
    } else {
      o.username = percent_decode(userinfo.substr(0, colon), "user name");
      o.password = percent_decode(userinfo.substr(colon + 1), "password");
    }
  }

  // The path is the database index; no query options are understood.
  if (rest.find('?') != std::string_view::npos)
    fail("the URL has a query ('?...'); set timeouts and pool size in redis_options instead");
  std::string_view path;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (!path.empty()) {
    unsigned db = 0;
    const auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), db);
    if (ec != std::errc{} || end != path.data() + path.size())
      fail("the URL's database '/" + std::string(path) + "' is not a number");
    o.database = db;
  }

  // One host, or a comma-separated list of cluster seeds.
  while (true) {
    const auto comma = rest.find(',');
    o.servers.push_back(parse_host_port(rest.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (!o.cluster && o.servers.size() > 1)
    fail("a redis:// URL names one server; use redis+cluster:// for a list of cluster nodes");
  o.validate();
  return o;
}

void redis_options::validate() const {
  using std::chrono::milliseconds;
  if (servers.empty()) fail("servers is empty; give a URL such as redis://127.0.0.1:6379");
  for (const auto& s : servers)
    if (s.host.empty() || s.port == 0) fail("a server has no host or port 0");
  if (cluster && database != 0)
    fail("database must be 0 on a Redis Cluster (it has no SELECT); drop '/" +
         std::to_string(database) + "' from the URL");
  if (call_timeout < milliseconds(1) || call_timeout > milliseconds(60000))
    fail("call_timeout must lie in 1 ms .. 60 s");
  if (connect_timeout < milliseconds(1)) fail("connect_timeout must be at least 1 ms");
  if (stall_timeout < call_timeout) fail("stall_timeout must be at least call_timeout");
  if (reconnect_min < milliseconds(1) || reconnect_max < reconnect_min)
    fail("reconnect_min must be at least 1 ms and reconnect_max at least reconnect_min");
  if (connections < 1 || connections > 64) fail("connections must lie in 1..64");
  if (max_in_flight < 1) fail("max_in_flight must be at least 1");
  if (time == nullptr) fail("time (the clock) is null; leave it at system_clock()");
}

}  // namespace portcullis
