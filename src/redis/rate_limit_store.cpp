#include "portcullis/redis/rate_limit_store.hpp"

#include "client.hpp"
#include "portcullis/errc.hpp"
#include "scripts.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <utility>

namespace portcullis {

using redis::detail::reply;
namespace stat_id = redis::detail::stat_id;

struct redis_rate_limit_store::impl {
  impl(const redis_store_options& o)
      : stats(redis::detail::make_stats(o.name)), client(o.server, stats) {}

  // Shared with the client's connections, which may outlive the store for
  // as long as a handler of theirs is queued on the caller's executor.
  std::shared_ptr<counter_set> stats;
  redis::detail::client client;
  log_throttle error_throttle;
};

namespace {

// What a call into the client completes with.
struct outcome {
  std::error_code ec;
  reply value;
};

// Starts `start` (which hands a reply_handler to the client) and resumes
// the calling coroutine on its own executor with the outcome.
//
// Cancellation (with_deadline, request_timeout): the caller resumes at once
// with operation_aborted; the command itself runs on to its own answer or
// timeout on the client's thread, and that result is dropped.
template <typename Start>
asio::awaitable<outcome> await_client(Start start) {
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(outcome)>(
      [&start](auto handler) {
        using handler_type = decltype(handler);
        struct waiter {
          explicit waiter(handler_type&& h)
              : handler(std::move(h)),
                work(asio::prefer(asio::get_associated_executor(handler),
                                  asio::execution::outstanding_work.tracked)) {}
          handler_type handler;
          // The caller's executor, counted as outstanding work until the
          // outcome has been posted to it: the caller's io_context cannot
          // run out of work, return from run() and be destroyed while the
          // client's thread is still inside post() (ThreadSanitizer saw
          // exactly that; detail/await_result.hpp does the same).
          asio::any_io_executor work;
          std::atomic<bool> finished{false};
        };
        auto w = std::make_shared<waiter>(std::move(handler));
        auto slot = asio::get_associated_cancellation_slot(w->handler);

        // Completes the caller once, from whichever side comes first. The
        // work is let go last: after that the io_context may be gone.
        auto complete = [w, slot](outcome o) mutable {
          if (w->finished.exchange(true)) return;
          asio::any_io_executor work = std::exchange(w->work, asio::any_io_executor());
          asio::post(work, [w, slot, o = std::move(o)]() mutable {
            if (slot.is_connected()) slot.clear();
            std::move(w->handler)(std::move(o));
          });
          work = asio::any_io_executor();
        };
        if (slot.is_connected())
          slot.assign([complete](asio::cancellation_type) mutable {
            complete(outcome{std::make_error_code(std::errc::operation_canceled), reply{}});
          });
        start([complete](std::error_code ec, reply r) mutable {
          complete(outcome{ec, std::move(r)});
        });
      },
      asio::use_awaitable);
}

// "a*b" must match itself only in SCAN MATCH.
std::string glob_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

redis_rate_limit_store::redis_rate_limit_store(redis_store_options options)
    : options_(std::move(options)) {
  if (options_.prefix.empty())
    throw config_error(
        "redis_rate_limit_store: prefix is empty; give one (\"myapp:rl:\") so that reset_all() "
        "deletes only the limiter's keys");
  impl_ = std::make_unique<impl>(options_);
}

redis_rate_limit_store::~redis_rate_limit_store() = default;

const counter_set& redis_rate_limit_store::counters() const noexcept {
  return *impl_->stats;
}

bool redis_rate_limit_store::wait_ready(std::chrono::milliseconds timeout) const {
  return impl_->client.wait_ready(timeout);
}

namespace {

// Throws the failure of a call, after counting and (throttled) logging it.
[[noreturn]] void fail(counter_set& stats, log_throttle& throttle, const redis_options& o,
                       std::error_code ec, std::string_view what, std::string_view detail = {}) {
  stats.add(stat_id::errors);
  if (ec == errc::store_unavailable) stats.add(stat_id::unavailable);
  if (ec == errc::store_protocol) stats.add(stat_id::protocol_errors);
  std::uint64_t held = 0;
  if (throttle.allow(*o.time, held))
    o.log.log(log_level::warning, "redis_store.call_failed",
              {{"call", what},
               {"error", ec.message()},
               {"detail", detail},
               {"server", o.servers.front().to_string()},
               {"suppressed", held}});
  throw std::system_error(ec, "redis_rate_limit_store: " + std::string(what));
}

}  // namespace

asio::awaitable<rate_decision> redis_rate_limit_store::consume(std::string_view key,
                                                               const rate_policy& policy,
                                                               std::uint64_t cost) {
  auto& s = *impl_->stats;
  s.add(stat_id::calls);
  const auto& script = redis::detail::consume_script(policy.algorithm());
  std::string full_key = options_.prefix;
  full_key += key;
  auto args = redis::detail::script_args(policy, cost, options_.decision_clock);
  outcome o = co_await await_client([&](redis::detail::reply_handler done) {
    impl_->client.run_script(script, std::move(full_key), std::move(args), std::move(done));
  });
  if (o.ec == std::make_error_code(std::errc::operation_canceled)) throw std::system_error(o.ec);
  if (o.ec) fail(s, impl_->error_throttle, options_.server, o.ec, "consume");

  // {allowed, never, remaining, reset µs, retry µs, stamp}
  const reply& r = o.value;
  bool shape = r.type == reply::kind::array && r.elements.size() == 6;
  for (std::size_t i = 0; shape && i < 6; ++i)
    shape = r.elements[i].type == reply::kind::integer && (i == 5 || r.elements[i].integer >= 0);
  if (!shape)
    fail(s, impl_->error_throttle, options_.server, make_error_code(errc::store_protocol),
         "consume", r.is_error() ? std::string_view(r.str) : "unexpected reply shape");

  using std::chrono::microseconds;
  rate_decision d;
  d.allowed = r.elements[0].integer == 1;
  d.never = r.elements[1].integer == 1;
  d.limit = policy.limit();
  d.remaining = std::min<std::uint64_t>(static_cast<std::uint64_t>(r.elements[2].integer), d.limit);
  d.reset = microseconds(r.elements[3].integer);
  d.retry_after = d.allowed ? std::chrono::nanoseconds(0) : microseconds(r.elements[4].integer);
  d.stamp = r.elements[5].integer;
  co_return d;
}

asio::awaitable<void> redis_rate_limit_store::refund(std::string_view key,
                                                     const rate_policy& policy, std::uint64_t cost,
                                                     const rate_decision& taken) {
  if (!taken.allowed || cost == 0) co_return;
  auto& s = *impl_->stats;
  s.add(stat_id::calls);
  const auto& script = redis::detail::refund_script(policy.algorithm());
  std::string full_key = options_.prefix;
  full_key += key;
  auto args = redis::detail::script_args(policy, cost, options_.decision_clock);
  args.push_back(std::to_string(taken.stamp));
  outcome o = co_await await_client([&](redis::detail::reply_handler done) {
    impl_->client.run_script(script, std::move(full_key), std::move(args), std::move(done));
  });
  if (o.ec) fail(s, impl_->error_throttle, options_.server, o.ec, "refund");
  if (o.value.is_error())
    fail(s, impl_->error_throttle, options_.server, make_error_code(errc::store_protocol), "refund",
         o.value.str);
}

asio::awaitable<void> redis_rate_limit_store::reset(std::string_view key) {
  auto& s = *impl_->stats;
  s.add(stat_id::calls);
  std::string full_key = options_.prefix;
  full_key += key;
  outcome o = co_await await_client([&](redis::detail::reply_handler done) {
    impl_->client.execute({"DEL", full_key}, full_key, std::move(done));
  });
  if (o.ec) fail(s, impl_->error_throttle, options_.server, o.ec, "reset");
  if (o.value.is_error())
    fail(s, impl_->error_throttle, options_.server, make_error_code(errc::store_protocol), "reset",
         o.value.str);
}

asio::awaitable<void> redis_rate_limit_store::reset_all() {
  auto& s = *impl_->stats;
  s.add(stat_id::calls);
  outcome o = co_await await_client([&](redis::detail::reply_handler done) {
    impl_->client.scan_delete(glob_escape(options_.prefix) + "*",
                              [done = std::move(done)](std::error_code ec) { done(ec, reply{}); });
  });
  if (o.ec) fail(s, impl_->error_throttle, options_.server, o.ec, "reset_all");
}

}  // namespace portcullis
