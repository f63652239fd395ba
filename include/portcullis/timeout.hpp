// portcullis/timeout.hpp — deadlines for requests and for backend calls.
//
// Two tools share one mechanism (Asio per-operation cancellation):
//
// `with_deadline` runs any awaitable with a time limit. When the limit
// passes first, the operation is cancelled and the call throws
// `std::system_error` with the code you name (`errc::timeout` by default):
//
//     auto reply = co_await portcullis::with_deadline(
//         redis.async_command(...), std::chrono::milliseconds(50),
//         portcullis::errc::store_timeout);
//
// `request_timeout` is a middleware that gives the rest of the chain a
// deadline. When the handler has not answered in time the client gets a JSON
// 503 (`{"error":"request timed out"}`), the handler is cancelled, and
// whatever it would have answered later is dropped, never written:
//
//     b.use(std::make_shared<portcullis::request_timeout>(
//         portcullis::request_timeout_options{.timeout = std::chrono::seconds(10)}));
//
// What cancellation can and cannot do. Cancelling a coroutine makes the
// Asio operation it awaits complete at once with `operation_aborted` (a
// timer, a socket read, a store call that supports cancellation), and every
// later `co_await` in it throws, so the handler unwinds. Both tools then
// wait for the cancelled work to finish unwinding before they return,
// because that work still refers to the caller's request and context. So a
// handler that blocks its thread (a synchronous call, a busy loop), or
// awaits an operation that ignores cancellation, delays the 503 until it
// returns; its result is still dropped. Backend calls must therefore
// support terminal cancellation: complete their handler promptly with
// `operation_aborted` when the cancellation slot fires, and let any work
// already handed to another thread finish into a result nobody reads.
//
// Timers run on Asio's steady clock: a `manual_clock` does not move them.
#pragma once

#include "portcullis/clock.hpp"
#include "portcullis/counters.hpp"
#include "portcullis/errc.hpp"
#include "portcullis/log.hpp"
#include "portcullis/middleware.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace portcullis {

namespace detail {

// Runs `op` against a timer of `limit`. Returns true when `op` finished
// first (rethrowing what it threw), false when the timer did and `op` was
// cancelled and has finished unwinding. A `limit` of zero or less does not
// start `op` at all. Kept out of line so that this header stays light.
asio::awaitable<bool> race_deadline(asio::awaitable<void> op, clock::duration limit);

template <typename T>
asio::awaitable<void> store_result(asio::awaitable<T> op, std::optional<T>* out) {
  out->emplace(co_await std::move(op));
}

}  // namespace detail

/// Runs `op` and returns its result, or cancels it when `limit` passes
/// first and throws `std::system_error(on_timeout)`.
///
/// - An exception from `op` before the limit is rethrown unchanged.
/// - A `limit` of zero or less times out at once, without starting `op`.
/// - When the awaiting coroutine is itself cancelled, `op` is cancelled too
///   and the call throws what `op` threw (usually `operation_aborted`).
/// - Returns only once `op` has finished, even when it was cancelled (see
///   the header comment for why, and what that asks of `op`).
template <typename T>
asio::awaitable<T> with_deadline(asio::awaitable<T> op, clock::duration limit,
                                 std::error_code on_timeout = errc::timeout) {
  std::optional<T> result;
  // Kept out of an if's condition: GCC 12 miscompiles a co_await there.
  bool in_time =
      co_await detail::race_deadline(detail::store_result(std::move(op), &result), limit);
  if (!in_time) throw std::system_error(on_timeout);
  co_return std::move(*result);
}

/// The same for an operation without a result.
asio::awaitable<void> with_deadline(asio::awaitable<void> op, clock::duration limit,
                                    std::error_code on_timeout = errc::timeout);

/// The time left until `ctx.deadline` on the request's clock, never less
/// than zero; `clock::duration::max()` when the request has no deadline.
/// A backend call can take `std::min(its own timeout, time_left(ctx))`.
clock::duration time_left(const context& ctx) noexcept;

struct request_timeout_options {
  /// How long the rest of the chain may take. Must be positive.
  clock::duration timeout = std::chrono::seconds(30);
  /// The status of the answer when the deadline passes: 503 by default;
  /// 504 suits a gateway. Must be 4xx or 5xx.
  http::status status = http::status::service_unavailable;
  /// The `error` text of that answer.
  std::string message = "request timed out";
  /// Where timeouts are logged (warning, throttled to one line per 10 s).
  logger log{nullptr, log_level::off};
  /// The instance name in counters.
  std::string name = "request";
};

/// Cancels the rest of the chain when it takes longer than the timeout.
///
/// Sets `ctx.deadline` to the earlier of its current value and now plus
/// the timeout, measured on the request's clock, so that handlers and
/// stores can budget their own calls (`time_left`). An earlier deadline set
/// by an outer step is honoured: the timer uses whichever comes first.
///
/// The timeout answer keeps the request's keep-alive: the request was read
/// in full before the chain ran, so the connection is in a clean state.
///
/// Counters: `completed` (answered in time), `timed_out`.
/// Throws config_error for a timeout that is not positive or a status that
/// is not an error.
class request_timeout final : public middleware {
 public:
  explicit request_timeout(request_timeout_options options = {});

  asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const override;
  const counter_set* counters() const noexcept override { return &counters_; }

 private:
  request_timeout_options options_;
  mutable counter_set counters_;
  mutable log_throttle warnings_;
};

}  // namespace portcullis
