// The reference server's configuration: a JSON file, every key optional,
// documented in docs/secure-api.md. A bad file stops the server at start-up
// with a message that names the key and says what to write instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace secure_api {

/// One limiter's quota: `limit` requests per `window`.
struct limit_setting {
  std::uint64_t limit;
  std::chrono::seconds window;
};

/// "rate_limits": the reference server's quotas (rate_limits.hpp says how
/// each one is keyed and counted). Each key is optional; these are the
/// defaults.
struct rate_limit_settings {
  limit_setting api{100, std::chrono::minutes(15)};              // "api": per client IP
  limit_setting login{5, std::chrono::minutes(15)};              // "login": IP + e-mail, failures
  limit_setting forgot_password{3, std::chrono::hours(1)};       // "forgot_password": per IP
  limit_setting tier_free{10, std::chrono::minutes(1)};          // "tiers": {"free": ...}
  limit_setting tier_pro{100, std::chrono::minutes(1)};          //           "pro"
  limit_setting tier_enterprise{1000, std::chrono::minutes(1)};  //      "enterprise"
};

/// "upload": what POST /upload accepts. Only multipart/form-data; each
/// file's declared type must be allowed and match its first bytes.
struct upload_settings {
  std::uint64_t max_files = 5;
  std::uint64_t max_file_size = 5 * 1024 * 1024;
  std::vector<std::string> allowed_types = {"image/png", "image/jpeg", "image/gif", "image/webp",
                                            "application/pdf"};
};

/// "https": HTTPS enforcement, for a server with TLS or behind a proxy that
/// terminates it (and says so in X-Forwarded-Proto).
struct https_settings {
  std::string enforce;  // "" (off), "redirect" (GET/HEAD 308, others 403) or "refuse" (403)
  std::vector<std::string> allowed_hosts;  // the hosts a redirect may name
  unsigned short port = 443;               // the HTTPS port in redirects
  std::vector<std::string> exempt_paths = {"/health", "/v1/health"};
};

/// "versioning": the routes without a /v1 prefix are the unversioned API.
/// Once `unversioned_deprecated` is set ("YYYY-MM-DD"), their answers say so
/// (Deprecation, Sunset, Link to /v1/) and a client may ask for v1 on them
/// with `Accept-Version: v1`.
struct versioning_settings {
  std::optional<std::chrono::sys_days> unversioned_deprecated;
  std::optional<std::chrono::sys_days> unversioned_sunset;
};

struct config {
  // "listen": where to accept connections.
  std::string address = "127.0.0.1";
  unsigned short port = 8080;
  // "threads": I/O threads; 0 means one per core.
  unsigned threads = 0;
  // "trusted_proxies": CIDR networks whose forwarding headers are believed.
  std::vector<std::string> trusted_proxies;
  // "allowed_origins": CORS origins (exact, or patterns like https://*.example.com).
  std::vector<std::string> allowed_origins = {"http://localhost:3000"};
  // "cors_credentials": grant credentialed calls (Access-Control-Allow-
  // Credentials) to those origins. Off: the API's sessions are bearer tokens.
  bool cors_credentials = false;
  // "body_limit": bytes, for every route but /upload; "upload_limit" for /upload.
  std::uint64_t body_limit = 100 * 1024;
  std::uint64_t upload_limit = 10 * 1024 * 1024;
  // "upload": limits and types of POST /upload.
  upload_settings upload;
  // "https": redirect or refuse plain HTTP.
  https_settings https;
  // "versioning": deprecation of the unversioned routes.
  versioning_settings versioning;
  // "request_timeout_ms": how long a handler may take before a 503.
  std::chrono::milliseconds request_timeout{10000};
  // "stores": which backends hold the shared state.
  std::string rate_limit_store = "memory";  // "memory" or "redis"
  std::string redis_url;                    // redis://[user:pass@]host:port[/db]
  // "rate_limit_on_error": "open" or "closed"; required with Redis, empty
  // (never used) with the memory store, which cannot fail.
  std::string rate_limit_on_error;
  std::string api_key_store = "memory";  // "memory" or "postgres"
  std::string postgres_url;              // postgresql://user@host:port/db
  std::string redis_prefix;              // before every Redis key; the store's default if empty
  // "memory_max_keys": the most rate-limit keys the memory store holds; past
  // it a key not used recently is evicted. Bounds the store's memory (about
  // 250 bytes a key). Only with stores.rate_limit "memory"; Redis keys expire.
  std::uint64_t memory_max_keys = 1'000'000;
  // "api_keys": a server secret (pepper) that makes stored key digests
  // HMAC-SHA-256 instead of plain SHA-256. Read from `pepper_file` at
  // start-up; never logged.
  std::string api_key_pepper;
  std::string api_key_pepper_id = "p1";
  // "rate_limits": per-limiter quotas.
  rate_limit_settings rate_limits;
  // "tls": certificate and key files; plain HTTP when absent.
  std::optional<std::string> tls_certificate;
  std::optional<std::string> tls_private_key;
  // "log_level": debug, info, warning, error, off.
  std::string log_level = "info";
  // "development": error bodies carry the exception's text. Never in production.
  bool development = false;
  // "slow_route": adds GET /slow?ms=N, a handler that outlives its deadline
  // on demand, for testing the request timeout. Refused unless development.
  bool slow_route = false;
};

/// Reads a configuration file. Throws std::runtime_error with a message that
/// names the file, the key and the fix.
config load_config(const std::string& path);

/// Parses configuration text (a JSON object); `origin` names it in errors.
config parse_config(const std::string& text, const std::string& origin = "config");

}  // namespace secure_api
