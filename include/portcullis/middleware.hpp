// portcullis/middleware.hpp — handlers, middleware and `next`.
//
// A handler answers a request. A middleware stands in front of it and gets
// `next`, the rest of the chain. It may answer on its own (a 429, a
// preflight), call `next` and change what comes back (headers), or both:
//
//     class request_timer final : public portcullis::middleware {
//      public:
//       asio::awaitable<response> handle(request& req, context& ctx,
//                                        next_handler next) const override {
//         auto res = co_await next(req, ctx);
//         res.set("Server-Timing", "app");
//         co_return res;
//       }
//     };
//
// Middleware objects are built once, shared by every request and called
// from many threads at once: `handle` is const and must be thread-safe.
#pragma once

#include "portcullis/context.hpp"
#include "portcullis/counters.hpp"
#include "portcullis/http.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>

namespace portcullis {

/// The end of a chain: answers a request.
using handler = std::function<asio::awaitable<response>(request&, context&)>;

namespace detail {
struct chain_state;
struct route_entry;
}  // namespace detail

/// The rest of the chain after the current middleware. Cheap to copy; call
/// it at most once per request.
class next_handler {
 public:
  asio::awaitable<response> operator()(request& req, context& ctx) const;

 private:
  friend class chain;
  next_handler(const detail::chain_state* chain, const detail::route_entry* route,
               std::uint32_t position, std::uint8_t outcome) noexcept
      : chain_(chain), route_(route), position_(position), outcome_(outcome) {}

  const detail::chain_state* chain_;
  const detail::route_entry* route_;
  std::uint32_t position_;
  std::uint8_t outcome_;
};

/// A step of the chain.
class middleware {
 public:
  virtual ~middleware() = default;

  /// Handles one request. Called concurrently from many threads.
  virtual asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const = 0;

  /// This middleware's counters, for tests and for /metrics; may be null.
  virtual const counter_set* counters() const noexcept { return nullptr; }

  /// Adds to `res` what this middleware puts on every answer, for an answer
  /// the server gave without running the chain: a request refused once its
  /// header was read (413, body over the route's limit). No handler ran and
  /// nothing is counted; CORS adds its grant and security_headers its
  /// headers, so that a page can read why its request failed. Default:
  /// nothing. Called concurrently; must not throw.
  virtual void decorate_refusal(const request& head, const context& ctx,
                                response& res) const noexcept {
    (void)head;
    (void)ctx;
    (void)res;
  }
};

/// A middleware from a callable with the signature of `handle`, for small
/// steps that need no class of their own. The callable must be thread-safe.
std::shared_ptr<const middleware> make_middleware(
    std::function<asio::awaitable<response>(request&, context&, next_handler)> fn);

}  // namespace portcullis
