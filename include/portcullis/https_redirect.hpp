// portcullis/https_redirect.hpp — HTTPS enforcement.
//
// Requests that arrived over plain HTTP (directly, or as a trusted proxy
// reports with X-Forwarded-Proto) are sent to HTTPS or refused:
//
//     b.use(std::make_shared<portcullis::https_redirect>(portcullis::https_redirect_options{
//         .allowed_hosts = {"api.example.com", "www.example.com"},
//         .exempt_paths = {"/health"}}));
//
//     GET  http://api.example.com/items?x=1  → 308 Location: https://api.example.com/items?x=1
//     POST http://api.example.com/items      → 403 {"error":"HTTPS is required"}
//     GET  http://evil.example/               → 400 {"error":"unknown host"}
//
// The redirect never carries the client's `Host` text: the host is matched
// (case-insensitively, port ignored) against `allowed_hosts`, and the
// Location is built from the allowlist's own entry. A Host that is not on
// the list, malformed, repeated or missing gets a 400, so the redirect
// cannot be turned into an open redirect or a cache-poisoning gadget.
//
// Why 308 and only for GET/HEAD: 308 keeps the method (RFC 9110 §15.4.9),
// and a request with a body has already crossed the network in clear text;
// redirecting it would invite the client to send it twice. A 403 tells the
// developer to fix the URL instead.
//
// Pair it with `security_headers` (HSTS), so that browsers skip the plain
// HTTP hop next time.
#pragma once

#include "portcullis/counters.hpp"
#include "portcullis/log.hpp"
#include "portcullis/middleware.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

/// What happens to a plain-HTTP request.
enum class https_policy {
  /// GET and HEAD: 308 to the HTTPS URL; other methods: JSON 403.
  redirect,
  /// Every method: JSON 403 (no redirect, no allowlist needed).
  refuse,
};

struct https_redirect_options {
  https_policy policy = https_policy::redirect;
  /// Host names the service answers for ("api.example.com"), matched
  /// case-insensitively without the port. Required for `redirect`; each
  /// must be a DNS name or an IP literal ("[::1]" for IPv6).
  std::vector<std::string> allowed_hosts;
  /// The HTTPS port in the Location; omitted when 443.
  std::uint16_t https_port = 443;
  /// Path prefixes that stay reachable over plain HTTP ("/health" for a
  /// load balancer's check), segment-wise like chain::use prefixes.
  std::vector<std::string> exempt_paths;
  /// Debug lines for each redirect or refusal.
  logger log{nullptr, log_level::off};
  /// The instance name in counters.
  std::string name = "https";
};

/// Enforces HTTPS. Counters: `passed` (HTTPS or exempt), `redirected`,
/// `refused` (403), `bad_host` (400).
/// Throws config_error for `redirect` without allowed_hosts, an invalid
/// host, port 0 or an invalid exempt path.
class https_redirect final : public middleware {
 public:
  explicit https_redirect(https_redirect_options options);

  asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const override;
  const counter_set* counters() const noexcept override { return &counters_; }

  /// The HTTPS URL for `req`, or empty when its host is not allowed or its
  /// target is not a path. Exposed for servers that answer outside a chain.
  std::string location_for(const request& req) const;

 private:
  https_redirect_options options_;
  std::vector<std::string> hosts_;  // lower case
  mutable counter_set counters_;
};

}  // namespace portcullis
