#include "portcullis/timeout.hpp"

#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

namespace portcullis {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

asio::awaitable<void> sleep_for(clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// A backend call that takes `d`, records whether it finished or was
// cancelled, and answers 42.
struct probe {
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  std::atomic<bool> cancelled{false};
};

asio::awaitable<int> slow_answer(clock::duration d, probe* p) {
  p->started = true;
  try {
    co_await sleep_for(d);
  } catch (const boost::system::system_error& e) {
    if (e.code() == asio::error::operation_aborted) p->cancelled = true;
    throw;
  }
  p->finished = true;
  co_return 42;
}

// Runs a coroutine to completion on a fresh io_context; rethrows.
template <typename T>
T run(asio::awaitable<T> op) {
  asio::io_context ioc;
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(ioc, std::move(op), [&](std::exception_ptr e, T v) {
    if (e)
      error = e;
    else
      out.emplace(std::move(v));
  });
  ioc.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

TEST(timeout, with_deadline_returns_the_result_in_time) {
  probe p;
  EXPECT_EQ(run(with_deadline(slow_answer(1ms, &p), 5s)), 42);
  EXPECT_TRUE(p.finished);
  EXPECT_FALSE(p.cancelled);
}

TEST(timeout, with_deadline_cancels_a_slow_call_and_throws_timeout) {
  probe p;
  auto start = steady::now();
  try {
    run(with_deadline(slow_answer(10s, &p), 30ms));
    FAIL() << "no timeout";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), make_error_code(errc::timeout));
  }
  EXPECT_LT(steady::now() - start, 2s);
  EXPECT_TRUE(p.cancelled);
  EXPECT_FALSE(p.finished);
}

TEST(timeout, with_deadline_throws_the_code_it_is_given) {
  probe p;
  try {
    run(with_deadline(slow_answer(10s, &p), 10ms, errc::store_timeout));
    FAIL() << "no timeout";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), make_error_code(errc::store_timeout));
    EXPECT_EQ(e.code().message(), make_error_code(errc::store_timeout).message());
  }
}

TEST(timeout, with_deadline_rethrows_an_early_failure_without_waiting) {
  auto failing = []() -> asio::awaitable<int> {
    co_await sleep_for(1ms);
    throw std::runtime_error("connection refused");
  };
  auto start = steady::now();
  EXPECT_THROW(run(with_deadline(failing(), 5s)), std::runtime_error);
  EXPECT_LT(steady::now() - start, 2s);  // not held until the 5 s timer
}

TEST(timeout, with_deadline_handles_void_and_move_only_results) {
  std::atomic<int> ran{0};
  auto work = [&]() -> asio::awaitable<void> {
    co_await sleep_for(1ms);
    ++ran;
  };
  run([&]() -> asio::awaitable<int> {
    co_await with_deadline(work(), 1s);
    co_return 0;
  }());
  EXPECT_EQ(ran, 1);
}

TEST(timeout, with_deadline_void_times_out) {
  EXPECT_THROW(run([&]() -> asio::awaitable<int> {
                 co_await with_deadline(sleep_for(10s), 10ms);
                 co_return 0;
               }()),
               std::system_error);
}

TEST(timeout, with_deadline_move_only) {
  auto make = []() -> asio::awaitable<std::unique_ptr<int>> { co_return std::make_unique<int>(7); };
  EXPECT_EQ(*run(with_deadline(make(), 1s)), 7);
}

TEST(timeout, with_deadline_of_zero_never_starts_the_call) {
  probe p;
  EXPECT_THROW(run(with_deadline(slow_answer(1ms, &p), 0ms)), std::system_error);
  EXPECT_THROW(run(with_deadline(slow_answer(1ms, &p), -5ms)), std::system_error);
  EXPECT_FALSE(p.started);
}

TEST(timeout, with_deadline_passes_on_the_callers_cancellation) {
  asio::io_context ioc;
  asio::cancellation_signal stop;
  probe p;
  std::exception_ptr error;
  asio::co_spawn(
      ioc, with_deadline(slow_answer(10s, &p), 10s),
      asio::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr e, int) { error = e; }));
  asio::steady_timer later(ioc, 20ms);
  later.async_wait([&](auto) { stop.emit(asio::cancellation_type::terminal); });
  auto start = steady::now();
  ioc.run();
  EXPECT_LT(steady::now() - start, 2s);
  ASSERT_TRUE(error);
  try {
    std::rethrow_exception(error);
  } catch (const boost::system::system_error& e) {
    EXPECT_EQ(e.code(), asio::error::operation_aborted);
  }
  EXPECT_TRUE(p.cancelled);
}

TEST(timeout, time_left_follows_the_request_clock) {
  manual_clock clk;
  context ctx{{}, false, clk};
  EXPECT_EQ(time_left(ctx), clock::duration::max());
  ctx.deadline = clk.now() + 2s;
  EXPECT_EQ(time_left(ctx), clock::duration(2s));
  clk.advance(3s);
  EXPECT_EQ(time_left(ctx), clock::duration::zero());
}

// -- request_timeout ---------------------------------------------------------

request get(std::string target) {
  request req{http::verb::get, target, 11};
  req.set(http::field::host, "a");
  return req;
}

struct handler_probe {
  std::atomic<bool> late_code_ran{false};
  std::atomic<bool> saw_cancel{false};
  std::atomic<long long> budget_ms{-1};
};

chain timed_chain(clock::duration timeout, handler_probe& hp, clock::duration work,
                  bool ignore_cancel = false) {
  chain::builder b;
  b.use(std::make_shared<request_timeout>(request_timeout_options{.timeout = timeout}));
  b.route(http::verb::get, "/work",
          [&hp, work, ignore_cancel](request& req, context& ctx) -> asio::awaitable<response> {
            hp.budget_ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(time_left(ctx)).count();
            if (ignore_cancel)
              co_await asio::this_coro::reset_cancellation_state(asio::disable_cancellation());
            try {
              co_await sleep_for(work);
            } catch (const boost::system::system_error&) {
              hp.saw_cancel = true;
              throw;
            }
            hp.late_code_ran = true;
            response res{http::status::ok, req.version()};
            res.body() = "late result";
            res.prepare_payload();
            co_return res;
          });
  return std::move(b).build();
}

TEST(timeout, request_timeout_answers_503_and_cancels_the_handler) {
  handler_probe hp;
  auto c = timed_chain(50ms, hp, 10s);
  auto req = get("/work");
  context ctx;
  auto start = steady::now();
  auto res = run_blocking(c, req, ctx);
  EXPECT_LT(steady::now() - start, 2s);

  EXPECT_EQ(res.result(), http::status::service_unavailable);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res.body(), R"({"error":"request timed out"})");
  EXPECT_TRUE(hp.saw_cancel);
  EXPECT_FALSE(hp.late_code_ran);
  EXPECT_GE(hp.budget_ms, 0);
  EXPECT_LE(hp.budget_ms, 50);
  auto counters = c.counters();
  ASSERT_EQ(counters.size(), 2u);
  EXPECT_EQ(counters[1]->value("timed_out"), 1u);
  EXPECT_EQ(counters[1]->value("completed"), 0u);
}

TEST(timeout, request_timeout_drops_the_result_of_a_handler_that_ignores_cancellation) {
  // This handler disables cancellation and finishes late with a 200: the
  // client must still get the 503, and the late body must appear nowhere.
  handler_probe hp;
  auto c = timed_chain(20ms, hp, 150ms, /*ignore_cancel=*/true);
  auto req = get("/work");
  context ctx;
  auto res = run_blocking(c, req, ctx);
  EXPECT_TRUE(hp.late_code_ran);
  EXPECT_EQ(res.result(), http::status::service_unavailable);
  EXPECT_EQ(res.body().find("late result"), std::string::npos);
}

TEST(timeout, request_timeout_passes_a_fast_answer_through) {
  handler_probe hp;
  auto c = timed_chain(5s, hp, 1ms);
  auto req = get("/work");
  context ctx;
  auto res = run_blocking(c, req, ctx);
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(res.body(), "late result");
  EXPECT_GT(hp.budget_ms, 4000);
  EXPECT_EQ(c.counters()[1]->value("completed"), 1u);
}

TEST(timeout, request_timeout_honours_an_earlier_deadline_and_its_status_option) {
  chain::builder b;
  b.use(make_middleware([](request& req, context& ctx, next_handler next) {
    ctx.deadline = ctx.time().now() + 20ms;  // an outer step's, tighter
    return next(req, ctx);
  }));
  b.use(std::make_shared<request_timeout>(request_timeout_options{
      .timeout = 10s, .status = http::status::gateway_timeout, .message = "too slow"}));
  b.route(http::verb::get, "/work", [](request&, context&) -> asio::awaitable<response> {
    co_await sleep_for(10s);
    co_return response{};
  });
  auto c = std::move(b).build();
  auto req = get("/work");
  context ctx;
  auto start = steady::now();
  auto res = run_blocking(c, req, ctx);
  EXPECT_LT(steady::now() - start, 2s);
  EXPECT_EQ(res.result(), http::status::gateway_timeout);
  EXPECT_EQ(res.body(), R"({"error":"too slow"})");
}

TEST(timeout, request_timeout_lets_handler_exceptions_through) {
  chain::builder b;
  b.use(std::make_shared<request_timeout>());
  b.route(http::verb::get, "/work", [](request&, context&) -> asio::awaitable<response> {
    throw std::logic_error("bug");
    co_return response{};
  });
  auto c = std::move(b).build();
  auto req = get("/work");
  context ctx;
  EXPECT_THROW(run_blocking(c, req, ctx), std::logic_error);
}

TEST(timeout, request_timeout_refuses_bad_options) {
  EXPECT_THROW(request_timeout(request_timeout_options{.timeout = 0s}), config_error);
  EXPECT_THROW(request_timeout(request_timeout_options{.timeout = -1s}), config_error);
  try {
    request_timeout(request_timeout_options{.status = http::status::ok});
    FAIL();
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("status 200"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace portcullis
