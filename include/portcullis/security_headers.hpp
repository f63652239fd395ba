// portcullis/security_headers.hpp — the response headers that harden a
// browser's view of your service, and a Content-Security-Policy builder.
//
// One middleware sets the headers that helmet sets for Express (a CSP,
// the cross-origin isolation headers, HSTS, nosniff, frame options …),
// removes the headers that name your server, and, for a CSP with a nonce,
// puts a fresh random nonce into `ctx.csp_nonce` for each request:
//
//     // A JSON API: default-src 'none', frame-ancestors 'none', DENY,
//     // Cache-Control: no-store.
//     b.use(std::make_shared<portcullis::security_headers>(
//         portcullis::security_headers_options::api()));
//
//     // An HTML site with inline scripts allowed by nonce only.
//     auto opts = portcullis::security_headers_options::html();
//     opts.csp->replace("img-src", {"'self'", "https://img.example.com"}).nonce();
//     b.use(std::make_shared<portcullis::security_headers>(std::move(opts)));
//     // handler: "<script nonce=\"" + ctx.csp_nonce + "\">…</script>"
//
// Each header is an option: set it to another value, or to `std::nullopt`
// to leave it out. Values are checked when the middleware is built, so a
// typo (`X-Frame-Options: SAMORIGIN`, `scirpt-src`) fails at start-up with
// a config_error that names the option, never silently in a browser.
//
// A header the handler set itself is kept by default (a page that needs its
// own CSP sets it); `override_handler_headers` makes the middleware's win.
#pragma once

#include "portcullis/counters.hpp"
#include "portcullis/middleware.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis {

/// One CSP directive: a name ("script-src") and its values ("'self'",
/// "https://cdn.example.com"). Directives with no values
/// ("upgrade-insecure-requests") have an empty list.
struct csp_directive {
  std::string name;
  std::vector<std::string> values;
};

/// A compiled, validated Content-Security-Policy. Made by `csp_builder`.
class csp_policy {
 public:
  /// "Content-Security-Policy" or "Content-Security-Policy-Report-Only".
  std::string_view header_name() const noexcept;
  /// True when each response needs a nonce.
  bool uses_nonce() const noexcept { return !nonce_at_.empty(); }
  /// The header value; `nonce` (base64, no quotes) is inserted as
  /// `'nonce-…'` into script-src and style-src when the policy uses one.
  std::string value(std::string_view nonce = {}) const;

 private:
  friend class csp_builder;
  bool report_only_ = false;
  // The value with the nonces cut out: text, nonce, text, nonce, text.
  std::string text_;
  std::vector<std::size_t> nonce_at_;
};

/// Builds a Content-Security-Policy from directives given as data
/// (CSP Level 3, https://www.w3.org/TR/CSP3/). Nothing is checked until
/// build(), which validates the whole policy and throws config_error with a
/// message that names the directive and the fix:
///
/// - a directive name that CSP does not define, or given twice;
/// - a keyword or hash without its single quotes (`self` for `'self'`);
/// - a fixed nonce (`'nonce-abc'`): a nonce must change per response, use
///   nonce();
/// - a value containing whitespace, `;` or `,` (each would end the value,
///   the directive or the whole policy, letting text inject directives);
/// - `'none'` together with other values (browsers would ignore 'none');
/// - a fetch directive with no values (write `'none'` to mean none);
/// - no `default-src`, unless without_default_src() says that is meant;
/// - a `report-to` group that is not a token.
class csp_builder {
 public:
  /// An empty policy (no directives).
  csp_builder() = default;

  /// helmet's default policy, for HTML pages: default-src 'self';
  /// base-uri 'self'; font-src 'self' https: data:; form-action 'self';
  /// frame-ancestors 'self'; img-src 'self' data:; object-src 'none';
  /// script-src 'self'; script-src-attr 'none'; style-src 'self' https:
  /// 'unsafe-inline'; upgrade-insecure-requests.
  static csp_builder html();

  /// For JSON APIs, which never render: default-src 'none';
  /// frame-ancestors 'none' (OWASP REST Security Cheat Sheet).
  static csp_builder api();

  /// Adds a directive. Adding a name that is already present is an error
  /// that build() reports (use replace() to change a directive).
  csp_builder& directive(std::string name, std::vector<std::string> values = {});
  /// Replaces the values of `name`, or adds the directive when absent.
  csp_builder& replace(std::string_view name, std::vector<std::string> values);
  /// Removes `name` when present.
  csp_builder& remove(std::string_view name);
  /// Accepts a policy without `default-src` (every unlisted fetch type is
  /// then unrestricted: say so on purpose).
  csp_builder& without_default_src();
  /// Sends `Content-Security-Policy-Report-Only` instead: the browser
  /// reports violations and blocks nothing. Use it to try a new policy.
  csp_builder& report_only(bool on = true);
  /// Adds `report-to <group>`; the group is defined by a `Reporting-Endpoints`
  /// header, which this middleware does not set (see `extra_headers`).
  csp_builder& report_to(std::string group);
  /// Adds a fresh `'nonce-…'` per response to script-src and style-src
  /// (both must be present and not 'none'). 128 random bits from OpenSSL.
  /// CSP2+ browsers then ignore 'unsafe-inline' in those directives.
  csp_builder& nonce(bool on = true);

  const std::vector<csp_directive>& directives() const noexcept { return directives_; }

  /// Validates and compiles the policy. Throws config_error.
  csp_policy build() const;

 private:
  std::vector<csp_directive> directives_;
  bool allow_no_default_ = false;
  bool report_only_ = false;
  bool nonce_ = false;
};

/// Strict-Transport-Security (RFC 6797).
struct hsts_options {
  /// How long the browser remembers to use HTTPS only. 0 tells it to forget.
  std::chrono::seconds max_age{31536000};  // one year
  /// The rule covers every subdomain too.
  bool include_subdomains = true;
  /// Asks to be listed in browsers' preload lists. Requires
  /// include_subdomains and a max_age of at least one year (the list's
  /// rules); build fails otherwise. Hard to undo: opt in deliberately.
  bool preload = false;
};

/// When to add `Cache-Control: no-store` to responses that set none.
enum class no_store_mode {
  /// Never.
  never,
  /// When the request was authenticated (`ctx.who`) or the response sets
  /// a cookie: such responses carry identity and must not be cached by a
  /// shared cache or kept on disk.
  when_identified,
  /// Always (JSON APIs: responses carry data that is not meant to be cached).
  always,
};

struct security_headers_options {
  /// The Content-Security-Policy; helmet's policy by default.
  std::optional<csp_builder> csp = csp_builder::html();
  /// Sent only on HTTPS responses (`ctx.https`: direct TLS or a trusted
  /// proxy's X-Forwarded-Proto), never over plain HTTP, where RFC 6797
  /// §7.2 tells browsers to ignore it anyway.
  std::optional<hsts_options> hsts = hsts_options{};

  /// same-origin | same-origin-allow-popups | unsafe-none
  std::optional<std::string> cross_origin_opener_policy = "same-origin";
  /// same-origin | same-site | cross-origin
  std::optional<std::string> cross_origin_resource_policy = "same-origin";
  /// require-corp | credentialless | unsafe-none. Off by default, as in
  /// helmet: it breaks pages that embed cross-origin resources.
  std::optional<std::string> cross_origin_embedder_policy;
  /// ?1 | ?0 (a structured-field boolean).
  std::optional<std::string> origin_agent_cluster = "?1";
  /// A comma-separated list of referrer policies (the last one the
  /// browser knows wins).
  std::optional<std::string> referrer_policy = "no-referrer";
  /// nosniff (the only value).
  std::optional<std::string> x_content_type_options = "nosniff";
  /// on | off
  std::optional<std::string> x_dns_prefetch_control = "off";
  /// noopen (the only value; old Internet Explorer).
  std::optional<std::string> x_download_options = "noopen";
  /// DENY | SAMEORIGIN (ALLOW-FROM is obsolete: use frame-ancestors).
  std::optional<std::string> x_frame_options = "SAMEORIGIN";
  /// none | master-only | by-content-type | all
  std::optional<std::string> x_permitted_cross_domain_policies = "none";
  /// "0": turns off the old XSS auditors, which created holes of their own.
  std::optional<std::string> x_xss_protection = "0";

  /// When to add `Cache-Control: no-store`.
  no_store_mode no_store = no_store_mode::when_identified;
  /// Headers removed from every response: they tell an attacker what to
  /// target. A server that adds `Server` while writing must be told
  /// separately.
  std::vector<std::string> remove = {"Server", "X-Powered-By"};
  /// More headers to set, name and value (`Permissions-Policy`,
  /// `Reporting-Endpoints`), checked like the others.
  std::vector<std::pair<std::string, std::string>> extra_headers;
  /// Set the headers even when the handler set its own.
  bool override_handler_headers = false;
  /// The instance name in counters.
  std::string name = "security_headers";

  /// helmet's defaults (the values above).
  static security_headers_options html();
  /// For JSON APIs (OWASP REST Security Cheat Sheet): the api() CSP,
  /// `X-Frame-Options: DENY`, `Cache-Control: no-store` always.
  static security_headers_options api();
};

/// Sets security headers on every response that passes through it.
///
/// Put it first in the chain (before the error handler) so that 404s,
/// 429s and 500s carry the headers too. When the CSP uses a nonce, the
/// nonce is generated before the rest of the chain runs, so the handler
/// can read `ctx.csp_nonce`.
///
/// Counters: `responses`, `nonces`. Throws config_error for any invalid
/// option, naming it.
class security_headers final : public middleware {
 public:
  explicit security_headers(security_headers_options options = {});

  asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const override;
  const counter_set* counters() const noexcept override { return &counters_; }
  /// The same headers (no CSP nonce) on an answer the server gave before
  /// the chain ran.
  void decorate_refusal(const request& head, const context& ctx,
                        response& res) const noexcept override;

  /// The compiled CSP, when one is set.
  const std::optional<csp_policy>& csp() const noexcept { return csp_; }
  /// The HSTS value sent over HTTPS, or empty when HSTS is off.
  const std::string& hsts_value() const noexcept { return hsts_; }

  /// Applies the headers to `res` as handle() would (for servers that build
  /// responses outside a chain). Generates no nonce: pass the one in use.
  void apply(response& res, const context& ctx, std::string_view nonce = {}) const;

 private:
  security_headers_options options_;
  std::optional<csp_policy> csp_;
  std::string hsts_;
  std::vector<std::pair<std::string, std::string>> fixed_;  // name, value
  mutable counter_set counters_;
};

/// A nonce for a CSP: 16 bytes from OpenSSL's CSPRNG in base64 (24
/// characters). Throws std::runtime_error when OpenSSL cannot supply them
/// (it then has no entropy, and neither has anything else in the process).
std::string make_csp_nonce();

}  // namespace portcullis
