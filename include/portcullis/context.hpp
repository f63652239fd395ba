// portcullis/context.hpp — the facts about one request.
//
// A `context` travels with the request through the chain. The server (or
// your own code, for your own Beast server) fills the connection facts; the
// chain resolves the client address and the route; middleware add what they
// learn (identity, validated body, CSP nonce); the handler reads them:
//
//     asio::awaitable<response> get_profile(request& req, context& ctx) {
//       if (!ctx.who.authenticated()) co_return ...;
//       auto id = ctx.param("id");                 // from "/users/{id}"
//       const nlohmann::json& q = *ctx.query;      // set by validate
//       ...
//     }
//
// Plain members with fixed types: no lookups by name on the hot path.
#pragma once

#include "portcullis/clock.hpp"
#include "portcullis/http.hpp"
#include "portcullis/ip_network.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

class logger;

/// Who is calling, once an authentication middleware has decided.
struct identity {
  enum class method : std::uint8_t { none, session, api_key };

  /// How the caller proved who it is; `none` for anonymous requests.
  method via = method::none;
  /// The user the request acts for (a user id, or an API key's owner).
  std::string subject;
  /// The API key's id, when `via == api_key`.
  std::string key_id;
  /// The plan or tier ("free", "pro", "enterprise"), when known.
  std::string tier;
  /// Granted scopes ("items:read").
  std::vector<std::string> scopes;

  bool authenticated() const noexcept { return via != method::none; }
  bool has_scope(std::string_view scope) const noexcept;
};

/// One `{name}` segment of the matched route and the raw (still
/// percent-encoded) text it matched.
struct route_param {
  std::string_view name;
  std::string_view value;
};

/// What one rate limiter decided about this request. The limiters of a
/// request each add one; the outermost writes the RateLimit headers for all
/// of them, so that no header carries a value twice (see rate_limit.hpp).
struct rate_limit_note {
  const void* limiter = nullptr;  // which limiter (identity only)
  std::string_view name;          // its policy name, owned by the limiter
  std::uint64_t limit = 0;
  std::uint64_t remaining = 0;
  std::chrono::nanoseconds window{0};
  std::chrono::nanoseconds reset{0};
  std::chrono::nanoseconds retry_after{0};
  bool allowed = true;
  std::array<char, 16> partition{};  // base64 of the key's hash (`pk`), or all zero
};

/// The most rate limiters whose decisions one request's headers report.
inline constexpr std::size_t max_rate_limits = 4;

/// The most path parameters one route pattern may have.
inline constexpr std::size_t max_route_params = 8;

class context {
 public:
  /// `peer` is the TCP peer; `tls` whether the connection itself is TLS.
  explicit context(ip_address peer = {}, bool tls = false,
                   const clock& clk = system_clock()) noexcept
      : peer_address(unmap(peer)), tls(tls), client_address(peer_address), clock_(&clk) {}

  // -- Connection facts (set by whoever reads the request) ----------------
  /// The address the TCP connection came from.
  ip_address peer_address;
  /// True when the request arrived over TLS.
  bool tls = false;

  // -- Resolved by the chain before any middleware runs --------------------
  /// The client: the peer, or what trusted proxies reported (see
  /// client_address.hpp).
  ip_address client_address;
  /// True over TLS, or when a trusted proxy says the client used HTTPS.
  bool https = false;
  /// A random id for this request (15 characters), also in error bodies.
  std::string request_id;
  /// The path part of the request target (no query), as sent.
  std::string_view path;
  /// The query part of the request target (after '?'), as sent.
  std::string_view raw_query;
  /// The pattern of the matched route ("/users/{id}"), or empty.
  std::string_view route_pattern;
  /// When the whole request must be answered by; `max()` for none.
  clock::time_point deadline = clock::time_point::max();
  /// How errors are written (JSON or problem+json); from the chain.
  error_format errors = error_format::json;

  /// The raw value of path parameter `name`, or empty when absent.
  std::string_view param(std::string_view name) const noexcept;
  /// All path parameters of the matched route.
  std::span<const route_param> params() const noexcept { return {params_.data(), param_count_}; }

  // -- Set by middleware -----------------------------------------------------
  /// The validated, transformed body (set by `validate`). A handler behind
  /// a body schema reads this, never the raw body.
  std::optional<nlohmann::json> body;
  /// The validated, transformed query (set by `validate`).
  std::optional<nlohmann::json> query;
  /// The authenticated caller (set by `api_key` or a session middleware).
  identity who;
  /// The CSP nonce of this response (set by `security_headers`), or empty.
  std::string csp_nonce;
  /// The rate limiters' decisions so far (set by `rate_limit`), in order.
  std::array<rate_limit_note, max_rate_limits> rate_limits{};
  std::uint8_t rate_limit_count = 0;
  /// The API version the request selected (set by `versioning`; it views
  /// the middleware's own copy of the name), or empty.
  std::string_view api_version;

  /// The clock of this request's chain.
  const clock& time() const noexcept { return *clock_; }

  /// An error response in this request's format (`errors`).
  response error(const request& req, http::status status, std::string_view message,
                 const nlohmann::json* details = nullptr) const {
    return error_response(req, status, message, errors, details);
  }

 private:
  friend class chain;
  friend class next_handler;
  std::array<route_param, max_route_params> params_{};
  std::size_t param_count_ = 0;
  const clock* clock_;
};

}  // namespace portcullis
