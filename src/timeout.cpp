#include "portcullis/timeout.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <exception>

namespace portcullis {
namespace detail {

asio::awaitable<bool> race_deadline(asio::awaitable<void> op, clock::duration limit) {
  if (limit <= clock::duration::zero()) co_return false;

  // Asio's timers overflow near duration::max(); a century is "never".
  limit = std::min<clock::duration>(limit, std::chrono::hours(24 * 365 * 100));
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex, limit);

  // wait_for_one: the first to finish, successfully or not, cancels the
  // other; the group completes once both have finished. (The `||` operator
  // of awaitable_operators waits for the first *success*, so an operation
  // that fails early would hold the caller until the timer fired.)
  auto [order, op_error, timer_error] =
      co_await asio::experimental::make_parallel_group(
          asio::co_spawn(ex, std::move(op), asio::deferred), timer.async_wait(asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::deferred);

  if (order[0] == 0) {
    if (op_error) std::rethrow_exception(op_error);
    co_return true;
  }
  // The timer finished first. With an error it was cancelled from outside
  // (the caller was cancelled): report what the operation made of that.
  if (timer_error) {
    if (op_error) std::rethrow_exception(op_error);
    throw std::system_error(timer_error);
  }
  co_return false;
}

}  // namespace detail

asio::awaitable<void> with_deadline(asio::awaitable<void> op, clock::duration limit,
                                    std::error_code on_timeout) {
  // A separate statement on purpose: GCC 12 corrupted the moved awaitable
  // when this co_await sat inside the if's condition.
  bool in_time = co_await detail::race_deadline(std::move(op), limit);
  if (!in_time) throw std::system_error(on_timeout);
}

clock::duration time_left(const context& ctx) noexcept {
  if (ctx.deadline == clock::time_point::max()) return clock::duration::max();
  auto now = ctx.time().now();
  return ctx.deadline > now ? ctx.deadline - now : clock::duration::zero();
}

namespace {

enum timeout_counter : std::size_t { c_completed, c_timed_out };

}  // namespace

request_timeout::request_timeout(request_timeout_options options)
    : options_(std::move(options)),
      counters_("timeout", options_.name, {"completed", "timed_out"}),
      warnings_(std::chrono::seconds(10)) {
  if (options_.timeout <= clock::duration::zero())
    throw config_error(
        "request_timeout: timeout must be positive; give it a duration such as "
        "std::chrono::seconds(30)");
  auto code = static_cast<unsigned>(options_.status);
  if (code < 400 || code > 599)
    throw config_error("request_timeout: status " + std::to_string(code) +
                       " is not an error status; use 503 (the default) or 504");
}

asio::awaitable<response> request_timeout::handle(request& req, context& ctx,
                                                  next_handler next) const {
  // Tighten the request's deadline; an outer, earlier one still wins.
  auto now = ctx.time().now();
  auto ours = options_.timeout < clock::time_point::max() - now ? now + options_.timeout
                                                                : clock::time_point::max();
  ctx.deadline = std::min(ctx.deadline, ours);
  auto limit = time_left(ctx);

  std::optional<response> result;
  bool in_time =
      co_await detail::race_deadline(detail::store_result(next(req, ctx), &result), limit);
  if (in_time) {
    counters_.add(c_completed);
    co_return std::move(*result);
  }

  // The handler was cancelled and has unwound; whatever it produced is gone.
  counters_.add(c_timed_out);
  std::uint64_t held = 0;
  if (options_.log.enabled(log_level::warning) && warnings_.allow(ctx.time(), held))
    options_.log.log(
        log_level::warning, "timeout.request",
        {{"request_id", ctx.request_id},
         {"method", http::to_string(req.method())},
         {"route", ctx.route_pattern},
         {"timeout_ms",
          std::chrono::duration_cast<std::chrono::milliseconds>(options_.timeout).count()},
         {"suppressed", held}});
  co_return ctx.error(req, options_.status, options_.message);
}

}  // namespace portcullis
