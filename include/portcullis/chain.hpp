// portcullis/chain.hpp — middleware and routes, built once.
//
//     portcullis::chain::builder b;
//     b.forwarding({.trusted_proxies = {"10.0.0.0/8"}});
//     b.use(std::make_shared<portcullis::error_handler>());     // every request
//     b.use("/api", api_limiter);                                // a path prefix
//     b.route(http::verb::get, "/health", health);
//     b.route(http::verb::post, "/auth/login", login, {.middleware = {login_limiter}});
//     b.route(http::verb::post, "/upload", upload, {.body_limit = 10 << 20});
//     b.route(http::verb::delete_, "/api-keys/{id}", revoke);
//     portcullis::chain app = std::move(b).build();
//
//     response res = co_await app.handle(req, ctx);
//
// For each request the chain resolves the client address (trusted-proxy
// rules), gives the request an id, matches the route, then runs, in order:
// the middleware added with use() whose prefix matches the path, the
// route's own middleware, and the route's handler. When no route matches,
// the last step answers 404 (or 405 with `Allow` when only the method is
// wrong; a plain OPTIONS gets 204 with `Allow`), still behind the
// middleware added with use(), so that headers and limits apply to it.
//
// Route patterns: exact ("/health"), with parameters ("/api-keys/{id}": a
// parameter matches one non-empty segment) or a prefix ("/static/*":
// "/static" and everything below it). Routes are tried in the order they
// were added; the first that matches wins. A HEAD request uses the GET
// route when it has no HEAD route of its own. Paths are compared as sent,
// byte for byte: "/Health", "/health/" and "/%68ealth" are not "/health".
//
// A built chain is immutable and thread-safe; copying it is cheap (it
// shares its state). Per request it allocates nothing beyond the coroutine
// frames of the steps it runs.
#pragma once

#include "portcullis/client_address.hpp"
#include "portcullis/clock.hpp"
#include "portcullis/log.hpp"
#include "portcullis/middleware.hpp"

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

/// Per-route settings.
struct route_options {
  /// The largest body this route accepts; the chain's default when unset.
  std::optional<std::uint64_t> body_limit;
  /// Middleware that run for this route only, after the chain's own.
  std::vector<std::shared_ptr<const portcullis::middleware>> middleware;
};

namespace detail {
struct chain_state;
}

class chain {
 public:
  class builder {
   public:
    builder();
    ~builder();
    builder(builder&&) noexcept;
    builder& operator=(builder&&) noexcept;

    /// Runs `mw` for every request, in the order of use() calls.
    builder& use(std::shared_ptr<const middleware> mw);
    /// Runs `mw` for requests whose path is `prefix` or lies below it
    /// ("/api" covers "/api" and "/api/x", not "/apix").
    builder& use(std::string_view prefix, std::shared_ptr<const middleware> mw);

    /// Adds a route. Throws config_error on an invalid pattern or when the
    /// same method and pattern were added before.
    builder& route(http::verb method, std::string_view pattern, handler h,
                   route_options options = {});

    /// Trusted-proxy rules for the client address (none by default).
    builder& forwarding(const forwarding_options& options);
    /// The body limit of routes that set none, and of unmatched requests.
    /// Default 1 MiB.
    builder& body_limit(std::uint64_t bytes);
    /// How errors are written; JSON by default.
    builder& errors(error_format format);
    /// Where the chain logs (untrusted forwarding headers, for instance).
    builder& log(logger l);
    /// The clock requests see through context::time(). Must outlive the chain.
    builder& time(const clock& clk);

    /// Builds the chain. The builder is left empty.
    chain build() &&;

   private:
    std::unique_ptr<detail::chain_state> state_;
  };

  /// Runs the request through the chain. `ctx` must carry the connection
  /// facts (peer address, TLS); the chain fills the rest.
  asio::awaitable<response> handle(request& req, context& ctx) const;

  /// For a request the server refused after reading its header (`head`
  /// has no body): resolves the client into `ctx` as handle() would, then
  /// lets each layer whose prefix matches add its headers to `res`, inner
  /// layers first (middleware::decorate_refusal). Never throws.
  void decorate_refusal(const request& head, context& ctx, response& res) const noexcept;

  /// Resolves the client, request id, path and route of `req` into `ctx`
  /// without running anything. handle() does this itself; readers call it
  /// after the header to learn the route's body limit.
  void prepare(const request& req, context& ctx) const;

  /// The body limit for a request with this method and target.
  std::uint64_t body_limit_for(http::verb method, std::string_view target) const;

  /// The counters of every middleware in the chain (each once).
  std::vector<const counter_set*> counters() const;

  /// The chain's logger.
  const logger& log() const noexcept;

  /// The chain's client resolver.
  const client_resolver& resolver() const noexcept;

 private:
  explicit chain(std::shared_ptr<const detail::chain_state> state) : state_(std::move(state)) {}
  std::shared_ptr<const detail::chain_state> state_;
};

/// The path of a request target: origin-form up to '?', or the path of an
/// absolute-form target ("http://h/p?q" gives "/p"). "*" stays "*".
std::string_view target_path(std::string_view target) noexcept;

/// The query of a request target (after the first '?'), or empty.
std::string_view target_query(std::string_view target) noexcept;

}  // namespace portcullis
