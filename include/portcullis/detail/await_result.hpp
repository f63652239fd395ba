// portcullis/detail/await_result.hpp — waiting for a result from elsewhere,
// with a timeout, without blocking an I/O thread. Private to portcullis.
//
// A `pending_result<T>` is filled from any thread (a worker of a blocking
// pool) and awaited by one coroutine, which gives up after a timeout or when
// it is cancelled (per-operation cancellation, as with_deadline uses). Everything that touches its
// timer runs on one strand, so a result that arrives just before the wait begins is never missed.
//
//     auto p = std::make_shared<pending_result<int>>(ex);
//     pool.push([p]() mutable { pending_result<int>::deliver(std::move(p), compute()); });
//     int v = co_await p->wait(std::chrono::seconds(2));
#pragma once

#include "portcullis/errc.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>

namespace portcullis::detail {

namespace asio = boost::asio;

/// `void` results travel as this.
struct no_value {};

/// A std::system_error with the code and text of one raised elsewhere
/// (pending_result::fail), made on the thread that throws it.
class forwarded_system_error : public std::system_error {
 public:
  forwarded_system_error(std::error_code ec, std::string text)
      : std::system_error(ec), text_(std::move(text)) {}
  const char* what() const noexcept override { return text_.c_str(); }

 private:
  std::string text_;
};

template <typename T>
class pending_result : public std::enable_shared_from_this<pending_result<T>> {
 public:
  using strand_type = asio::strand<asio::any_io_executor>;

  // The executor is kept as outstanding work until the result is handed
  // over: its io_context cannot run out of work, return from run() and be
  // destroyed while another thread is still posting to it.
  explicit pending_result(asio::any_io_executor ex)
      : work_(asio::prefer(ex, asio::execution::outstanding_work.tracked)),
        strand_(asio::make_strand(std::move(ex))),
        timer_(strand_) {}

  /// Hands over the result. Any thread; exactly one deliver or fail per
  /// result. Takes the caller's reference, so that the last one is never
  /// dropped on a foreign thread (the timer belongs to the io_context).
  static void deliver(std::shared_ptr<pending_result> self, T value) {
    auto& strand = self->strand_;
    asio::post(strand, [self, v = std::move(value)]() mutable {
      self->value_.emplace(std::move(v));
      self->done_ = true;
      self->timer_.cancel();
    });
    release(std::move(self));
  }

  /// Hands over an error instead of a result. Any thread. Its code and
  /// text travel as plain data and the waiter throws a new exception made
  /// on its own thread (forwarded_system_error): an exception object held
  /// by both threads is reference-counted inside libstdc++, where
  /// ThreadSanitizer cannot see it, and whichever thread freed it last
  /// would show as a race with the other's reads.
  static void fail(std::shared_ptr<pending_result> self, const std::system_error& e) {
    auto& strand = self->strand_;
    asio::post(strand, [self, code = e.code(), text = std::string(e.what())]() mutable {
      self->error_code_ = code;
      self->error_text_ = std::move(text);
      self->forwarded_ = true;
      self->done_ = true;
      self->timer_.cancel();
    });
    release(std::move(self));
  }

  /// Hands over any other exception (shared with the waiter, see above).
  static void fail(std::shared_ptr<pending_result> self, std::exception_ptr e) {
    auto& strand = self->strand_;
    asio::post(strand, [self, e = std::move(e)] {
      self->error_ = e;
      self->done_ = true;
      self->timer_.cancel();
    });
    release(std::move(self));
  }

  /// True once the waiter has given up: work not yet begun may be skipped.
  bool abandoned() const noexcept { return abandoned_.load(std::memory_order_acquire); }

  /// Waits up to `timeout` for the result; throws std::system_error
  /// (errc::store_timeout) when it does not come, errc::cancelled when the
  /// caller is cancelled, or the delivered error.
  /// Call once, from any coroutine.
  asio::awaitable<T> wait(std::chrono::steady_clock::duration timeout) {
    co_return co_await asio::co_spawn(strand_, wait_on_strand(this->shared_from_this(), timeout),
                                      asio::use_awaitable);
  }

  strand_type& strand() noexcept { return strand_; }

 private:
  static asio::awaitable<T> wait_on_strand(std::shared_ptr<pending_result> self,
                                           std::chrono::steady_clock::duration timeout) {
    bool expired = false;
    if (!self->done_) {
      self->timer_.expires_after(timeout);
      auto [ec] = co_await self->timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      // A cancelled wait is either deliver() waking us or the caller
      // cancelling (with_deadline, a request timeout): done_ tells which.
      expired = !ec;
    }
    if (!self->done_) {
      self->abandoned_.store(true, std::memory_order_release);
      if (expired) throw std::system_error(make_error_code(errc::store_timeout));
      throw std::system_error(make_error_code(errc::cancelled));
    }
    if (self->forwarded_) throw forwarded_system_error(self->error_code_, self->error_text_);
    if (self->error_) std::rethrow_exception(self->error_);
    co_return std::move(*self->value_);
  }

  // Drops this thread's reference first and the outstanding work last:
  // once the work is gone the io_context may be destroyed at any moment.
  static void release(std::shared_ptr<pending_result> self) {
    asio::any_io_executor work = self->work_;
    self->work_ = asio::any_io_executor();
    self.reset();
    work = asio::any_io_executor();
  }

  asio::any_io_executor work_;
  strand_type strand_;
  asio::steady_timer timer_;
  std::optional<T> value_;
  bool forwarded_ = false;  // by fail(system_error): even one whose code is 0
  std::error_code error_code_;
  std::string error_text_;
  std::exception_ptr error_;
  bool done_ = false;
  std::atomic<bool> abandoned_{false};
};

}  // namespace portcullis::detail
