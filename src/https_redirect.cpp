#include "portcullis/https_redirect.hpp"

#include "portcullis/chain.hpp"
#include "portcullis/detail/ascii.hpp"
#include "portcullis/errc.hpp"
#include "portcullis/ip_network.hpp"

#include <algorithm>
#include <optional>

namespace portcullis {
namespace {

enum https_counter : std::size_t { c_passed, c_redirected, c_refused, c_bad_host };

// A DNS name of letters, digits, '-' and '.', labels 1..63, total <= 253.
bool is_dns_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > 253) return false;
  std::size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = detail::is_ascii_alnum(c) || c == '-';
    if (!ok || ++label > 63) return false;
  }
  return label != 0;  // no trailing dot
}

// The host part of an authority ("Host" value or absolute-form target):
// "name", "name:port", "[v6]", "[v6]:port". Empty when malformed: user
// info, a path, a bad port or anything a name cannot contain.
std::string host_of(std::string_view authority) {
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return {};
    host = authority.substr(0, close + 1);
    auto rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return {};
      port = rest.substr(1);
      if (port.empty()) return {};
    }
    auto inner = host.substr(1, host.size() - 2);
    auto a = parse_address(inner);
    if (!a || !a->is_v6()) return {};
  } else {
    auto colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) return {};
    }
    if (!is_dns_name(host)) return {};
  }
  if (port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return {};
  return detail::to_ascii_lower(host);
}

bool under_prefix(std::string_view path, std::string_view prefix) noexcept {
  if (prefix == "/") return true;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

// The path and query of a request target, or nullopt when the target is
// not origin-form or absolute-form (authority-form, "*").
std::optional<std::string_view> path_and_query(std::string_view target) noexcept {
  if (target.starts_with("http://") || target.starts_with("https://")) {
    auto start = target.find("//") + 2;
    auto slash = target.find_first_of("/?", start);
    if (slash == std::string_view::npos) return std::string_view("/");
    target.remove_prefix(slash);
    if (target.front() == '?') return std::nullopt;  // "http://h?q": rare, refuse
  }
  if (!target.starts_with('/')) return std::nullopt;
  return target;
}

// Appends `s`, percent-encoding what a Location value should not carry raw.
void append_encoded(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || ch == '"' || ch == '<' || ch == '>' || ch == '\\' || ch == '^' ||
        ch == '`' || ch == '{' || ch == '|' || ch == '}') {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
}

}  // namespace

https_redirect::https_redirect(https_redirect_options options)
    : options_(std::move(options)),
      counters_("https", options_.name, {"passed", "redirected", "refused", "bad_host"}) {
  if (options_.policy == https_policy::redirect && options_.allowed_hosts.empty())
    throw config_error(
        "https_redirect: allowed_hosts is empty; list the host names the service "
        "answers for (the redirect never trusts the Host header), or use "
        "policy = https_policy::refuse");
  for (const auto& h : options_.allowed_hosts) {
    auto host = host_of(h);
    if (host.empty() || host.size() != h.size())
      throw config_error("https_redirect: allowed host '" + h +
                         "' is not a host name or IP literal (no port, scheme or path)");
    hosts_.push_back(std::move(host));
  }
  if (options_.https_port == 0) throw config_error("https_redirect: https_port must not be 0");
  for (auto& p : options_.exempt_paths) {
    if (p.empty() || p.front() != '/' || p.find_first_of("?#") != std::string::npos)
      throw config_error("https_redirect: exempt path '" + p +
                         "' must be a path starting with '/'");
    if (p.size() > 1 && p.back() == '/') p.pop_back();
  }
}

std::string https_redirect::location_for(const request& req) const {
  // RFC 9112 §3.2.2: with an absolute-form target the target's authority
  // is the host, and Host is ignored.
  std::string_view target = req.target();
  std::string host;
  if (target.starts_with("http://") || target.starts_with("https://")) {
    auto start = target.find("//") + 2;
    auto end = target.find_first_of("/?#", start);
    host = host_of(target.substr(start, end == std::string_view::npos ? end : end - start));
  } else {
    auto [first, last] = req.base().equal_range(http::field::host);
    if (first == last || std::next(first) != last) return {};  // none, or two
    host = host_of(first->value());
  }
  if (host.empty()) return {};
  auto known = std::find(hosts_.begin(), hosts_.end(), host);
  if (known == hosts_.end()) return {};

  auto path = path_and_query(target);
  if (!path) return {};

  // Our own spelling of the host, never the client's bytes.
  std::string out = "https://" + *known;
  if (options_.https_port != 443) out += ":" + std::to_string(options_.https_port);
  append_encoded(out, *path);
  return out;
}

asio::awaitable<response> https_redirect::handle(request& req, context& ctx,
                                                 next_handler next) const {
  bool exempt = std::any_of(options_.exempt_paths.begin(), options_.exempt_paths.end(),
                            [&ctx](const std::string& p) { return under_prefix(ctx.path, p); });
  if (ctx.https || exempt) {
    counters_.add(c_passed);
    co_return co_await next(req, ctx);
  }

  const bool safe = req.method() == http::verb::get || req.method() == http::verb::head;
  if (options_.policy == https_policy::refuse || !safe) {
    counters_.add(c_refused);
    if (options_.log.enabled(log_level::debug))
      options_.log.log(log_level::debug, "https.refused",
                       {{"request_id", ctx.request_id}, {"method", http::to_string(req.method())}});
    co_return ctx.error(req, http::status::forbidden, "HTTPS is required");
  }

  auto location = location_for(req);
  if (location.empty()) {
    counters_.add(c_bad_host);
    if (options_.log.enabled(log_level::debug))
      options_.log.log(log_level::debug, "https.bad_host", {{"request_id", ctx.request_id}});
    co_return ctx.error(req, http::status::bad_request, "unknown host");
  }

  counters_.add(c_redirected);
  response res{http::status::permanent_redirect, req.version()};
  res.set(http::field::location, location);
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  co_return res;
}

}  // namespace portcullis
