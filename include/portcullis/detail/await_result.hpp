// portcullis/detail/await_result.hpp — waiting for a result from elsewhere,
// with a timeout, without blocking an I/O thread. Private to portcullis.
//
// A `pending_result<T>` is filled from any thread (a worker of a blocking
// pool, a detached coroutine) and awaited by one coroutine, which gives up
// after a timeout. Everything that touches its timer runs on one strand, so
// a result that arrives just before the wait begins is never missed.
//
//     auto p = std::make_shared<pending_result<int>>(ex);
//     pool.push([p] { p->deliver(compute()); });   // any thread
//     int v = co_await p->wait(std::chrono::seconds(2));
#pragma once

#include "portcullis/errc.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <system_error>
#include <type_traits>

namespace portcullis::detail {

namespace asio = boost::asio;

/// `void` results travel as this.
struct no_value {};

template <typename T>
class pending_result : public std::enable_shared_from_this<pending_result<T>> {
 public:
  using strand_type = asio::strand<asio::any_io_executor>;

  explicit pending_result(asio::any_io_executor ex)
      : strand_(asio::make_strand(std::move(ex))), timer_(strand_) {}

  /// Hands over the result. Any thread; at most one deliver or fail.
  void deliver(T value) {
    asio::post(strand_, [self = this->shared_from_this(), v = std::move(value)]() mutable {
      self->value_.emplace(std::move(v));
      self->done_ = true;
      self->timer_.cancel();
    });
  }

  /// Hands over an exception instead of a result. Any thread.
  void fail(std::exception_ptr e) {
    asio::post(strand_, [self = this->shared_from_this(), e] {
      self->error_ = e;
      self->done_ = true;
      self->timer_.cancel();
    });
  }

  /// True once the waiter has given up: work not yet begun may be skipped.
  bool abandoned() const noexcept { return abandoned_.load(std::memory_order_acquire); }

  /// Waits up to `timeout` for the result; throws std::system_error
  /// (errc::store_timeout) when it does not come, or the delivered error.
  /// Call once, from any coroutine.
  asio::awaitable<T> wait(std::chrono::steady_clock::duration timeout) {
    co_return co_await asio::co_spawn(strand_, wait_on_strand(this->shared_from_this(), timeout),
                                      asio::use_awaitable);
  }

  strand_type& strand() noexcept { return strand_; }

 private:
  static asio::awaitable<T> wait_on_strand(std::shared_ptr<pending_result> self,
                                           std::chrono::steady_clock::duration timeout) {
    if (!self->done_) {
      self->timer_.expires_after(timeout);
      co_await self->timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (!self->done_) {
      self->abandoned_.store(true, std::memory_order_release);
      throw std::system_error(make_error_code(errc::store_timeout));
    }
    if (self->error_) std::rethrow_exception(self->error_);
    co_return std::move(*self->value_);
  }

  strand_type strand_;
  asio::steady_timer timer_;
  std::optional<T> value_;
  std::exception_ptr error_;
  bool done_ = false;
  std::atomic<bool> abandoned_{false};
};

/// Runs `op` (which must own its arguments: a coroutine taking them by
/// value) and waits at most `timeout` for it. On timeout `op` runs on in the
/// background and its result is dropped; errc::store_timeout is thrown.
template <typename T>
asio::awaitable<T> await_with_timeout(asio::awaitable<T> op,
                                      std::chrono::steady_clock::duration timeout) {
  auto ex = co_await asio::this_coro::executor;
  auto p = std::make_shared<pending_result<T>>(ex);
  asio::co_spawn(p->strand(), std::move(op), [p](std::exception_ptr e, T v) {
    if (e)
      p->fail(e);
    else
      p->deliver(std::move(v));
  });
  co_return co_await p->wait(timeout);
}

/// The same for an operation without a result.
inline asio::awaitable<void> await_with_timeout(asio::awaitable<void> op,
                                                std::chrono::steady_clock::duration timeout) {
  auto ex = co_await asio::this_coro::executor;
  auto p = std::make_shared<pending_result<no_value>>(ex);
  asio::co_spawn(p->strand(), std::move(op), [p](std::exception_ptr e) {
    if (e)
      p->fail(e);
    else
      p->deliver(no_value{});
  });
  co_await p->wait(timeout);
}

}  // namespace portcullis::detail
