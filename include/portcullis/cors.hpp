// portcullis/cors.hpp — cross-origin resource sharing that cannot be
// configured loosely.
//
// A browser lets a page on one origin read a response from another only
// when the response says so (Fetch standard, §3.2 "CORS protocol"). The
// `cors` middleware says so for the origins you list and for nobody else:
//
//     portcullis::cors_options o;
//     o.production.origins = {"https://app.example.com", "https://*.example.com"};
//     o.development.origins = {"http://localhost:3000"};
//     o.development_mode = settings.development;        // from your environment
//     o.credentials = true;
//     o.exposed_headers = {"RateLimit-Limit", "RateLimit-Remaining"};
//     b.use(std::make_shared<portcullis::cors>(std::move(o)));
//
// What it does with each request:
//
// - A preflight (`OPTIONS` with both `Origin` and
//   `Access-Control-Request-Method`) is answered here and never reaches a
//   route: 204 with the grant when the origin, the method and every header
//   named in `Access-Control-Request-Headers` are allowed, otherwise 403
//   JSON with no CORS header at all. A plain `OPTIONS` is not a preflight
//   and goes to the route.
// - Any other request runs the rest of the chain. When its `Origin` is
//   allowed, the response (whatever its status: a 401, 429 or 500 from
//   further down as well) gets `Access-Control-Allow-Origin` with that one
//   origin, and the credentials and exposed-header grants. When it is not,
//   the response gets no grant (the browser then hides it from the page),
//   or, with `refuse_disallowed`, the request is answered 403 here.
// - Every response whose CORS headers depend on the origin carries
//   `Vary: Origin`, merged into any `Vary` already there, so that no cache
//   hands one origin's grant to another: denials and requests without
//   `Origin` included.
//
// How origins are matched: the `Origin` value must be a serialised origin
// (`scheme://host[:port]` or `null`); anything else — a path, userinfo,
// percent-escapes, two origins, an empty value — is simply not allowed.
// Scheme and host compare without case and a default port (80 for http,
// 443 for https) equals no port. Then the origin is allowed when it is in
// the exact list, matches a wildcard entry (`https://*.example.com`: one or
// more labels in front of `.example.com`, same scheme and port, never
// `example.com` itself), matches one of the RE2 regexes (always against the
// whole origin, and only below the literal domain the regex ends with), or
// when the predicate says so. `null` is allowed only when listed as such.
// With no origins configured, CORS grants nothing.
//
// The middleware owns the `Access-Control-Allow-*` and
// `Access-Control-Expose-Headers` fields of the responses it sees: what a
// handler sets there is replaced by the middleware's own answer, and
// removed for a request whose origin is not allowed.
//
// Place it near the front of the chain, before anything that can answer on
// its own (rate limits, authentication, body limits), so that those answers
// carry the grant and a preflight is never counted or refused by them. An
// exception passes through `cors` unchanged: put the `error_handler` after
// `cors` (inside it) for a 500 to carry the grant as well.
#pragma once

#include "portcullis/log.hpp"
#include "portcullis/middleware.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

/// One set of allowed origins. `cors_options` holds two, for production and
/// for development, and uses one of them.
struct cors_origin_set {
  /// Origins allowed exactly, each `scheme://host[:port]`
  /// ("https://app.example.com", "http://localhost:3000"), compared after
  /// normalisation (case of scheme and host, default ports). Also:
  /// - a wildcard entry "https://*.example.com" (the `*` is the whole first
  ///   label; at least two labels follow it, or the single label
  ///   `localhost`): any subdomain, at any depth, with that scheme and port;
  /// - "null": the opaque origin of sandboxed frames and `file:` pages,
  ///   which anyone can produce — allow it only knowing that;
  /// - "*" as the only entry (and without regexes or a predicate): any
  ///   origin, answered `Access-Control-Allow-Origin: *`, never with
  ///   credentials.
  /// Throws config_error for an entry with a path, a trailing slash, a
  /// query, userinfo or no scheme, for "*" beside other entries, and for a
  /// wildcard over a single label ("https://*.com").
  std::vector<std::string> origins;

  /// RE2 regexes over the normalised origin. The library anchors each one
  /// at both ends (`^`/`$` in the text are accepted and redundant), and
  /// requires that it start with a literal scheme (`https://`, `http://`,
  /// `https?://`) and end with a literal domain of at least two labels,
  /// optionally followed by a port part (`(:\d+)?`, `:[0-9]+`, `:8443`):
  /// `https://(app|admin)\.example\.com`, `https://[a-z0-9-]+\.example\.com`,
  /// `https://(www\.)?example\.com(:\d+)?`. A request's host must then also
  /// be that domain or lie below it, whatever else the regex allows. Matched
  /// without case. Throws config_error for a regex RE2 rejects, for one not
  /// of that shape ("unanchorable"), and for the wildcard form written here
  /// (put "https://*.example.com" into `origins`).
  std::vector<std::string> regexes;

  /// Decides origins the lists do not: called with the normalised origin
  /// (never with "null"), from many threads at once. It is called at build
  /// with origins under the reserved `.invalid` domain: one that accepts
  /// them reflects any origin, which throws config_error with credentials.
  std::function<bool(std::string_view origin)> predicate;

  /// The origins, from `origins` (exact entries, not wildcards), that may
  /// reach this server as a private network (Private Network Access):
  /// their preflights with `Access-Control-Request-Private-Network: true`
  /// get `Access-Control-Allow-Private-Network: true`. Empty by default:
  /// such preflights are then answered without that grant, and the browser
  /// refuses. Throws config_error for an origin not listed in `origins`.
  std::vector<std::string> private_network;
};

struct cors_options {
  /// The origins allowed in production (the default). Empty by default.
  cors_origin_set production;
  /// The origins allowed in development ("http://localhost:3000").
  cors_origin_set development;
  /// Use `development` instead of `production`. Both sets are checked at
  /// build either way, so a production mistake fails on a laptop too.
  bool development_mode = false;

  /// Send `Access-Control-Allow-Credentials: true`, letting the browser
  /// send cookies and read responses to credentialed requests. Throws
  /// config_error together with the origin "*" or with a regex or
  /// predicate that accepts any origin.
  bool credentials = false;

  /// Methods a preflight may ask for, compared case-sensitively (RFC 9110
  /// §9.1); sent as `Access-Control-Allow-Methods`. Note that a simple
  /// GET, HEAD or POST is never preflighted: leaving one out stops nothing.
  /// Throws config_error for an entry that is not an RFC 9110 token or is
  /// "*".
  std::vector<std::string> methods{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};

  /// Request headers a preflight may name, compared without case; sent as
  /// `Access-Control-Allow-Headers`, never echoed from the request. A
  /// JSON body needs "Content-Type". Throws config_error for an entry that
  /// is not a token or is "*".
  std::vector<std::string> allowed_headers{"Content-Type"};

  /// Response headers the page may read besides the safelisted ones
  /// (`Access-Control-Expose-Headers`). Empty by default. Throws
  /// config_error for an entry that is not a token or is "*".
  std::vector<std::string> exposed_headers;

  /// How long the browser may cache a preflight (`Access-Control-Max-Age`).
  /// Browsers cap it (Chromium at 2 hours, Firefox at 24). Default 10
  /// minutes; 0 asks the browser not to cache. Throws config_error when
  /// negative.
  std::chrono::seconds max_age{600};

  /// Answer a non-preflight request from an origin that is not allowed with
  /// 403 JSON instead of running it. Off by default: the request runs and
  /// the browser hides the response. When on, list your own origin too:
  /// browsers send `Origin` on same-origin POST, PUT and DELETE.
  bool refuse_disallowed = false;

  /// The largest `Access-Control-Request-Headers` a preflight may carry, in
  /// bytes and in names; a larger one is denied without being parsed.
  /// Defaults 1024 and 32; throws config_error when 0.
  std::size_t max_request_headers_bytes = 1024;
  std::size_t max_request_headers_count = 32;

  /// The instance name in counters and logs.
  std::string name = "cors";
  /// Build-time warnings, and per-request denials at debug level.
  logger log;
};

/// The CORS middleware. Counters:
/// - `preflight_allowed`, `preflight_denied`: preflights answered 204 / 403;
/// - `private_network_allowed`, `private_network_denied`: preflights asking
///   for private-network access, answered with and without that grant;
/// - `request_headers_rejected`: preflights denied because their
///   `Access-Control-Request-Headers` was too large or malformed;
/// - `allowed`, `denied`, `refused`: other requests with an `Origin` that
///   was allowed, not allowed (run without a grant), or refused with 403.
class cors final : public middleware {
 public:
  /// Checks and compiles the options; throws config_error naming the
  /// option and the fix (see each option).
  explicit cors(cors_options options = {});
  ~cors() override;

  asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const override;
  const counter_set* counters() const noexcept override;
  /// The grant handle() would add to any answer (not a preflight's), on an
  /// answer the server gave before the chain ran.
  void decorate_refusal(const request& head, const context& ctx,
                        response& res) const noexcept override;

  /// True when `origin`, a raw `Origin` header value, is allowed by the set
  /// in use (the same decision handle() makes).
  bool allows(std::string_view origin) const;

 private:
  // Access-Control-Allow-Origin and company for an answer to a request
  // from `origin` (allowed or not), replacing any the handler set.
  void grant(bool allowed, std::string_view origin, response& res) const;
  struct state;
  std::unique_ptr<const state> state_;
};

}  // namespace portcullis
