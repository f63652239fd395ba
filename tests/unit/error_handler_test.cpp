#include "portcullis/error_handler.hpp"

#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"

#include <gtest/gtest.h>

#include <mutex>

namespace portcullis {
namespace {

struct capture_sink final : log_sink {
  void write(log_level level, std::string_view event, std::span<const log_field> fields) override {
    std::lock_guard lock(m);
    lines.push_back(json_lines_sink::format(level, event, fields));
  }
  std::mutex m;
  std::vector<std::string> lines;
};

chain failing_app(error_handler_options options, error_format format = error_format::json) {
  chain::builder b;
  b.errors(format);
  b.use(std::make_shared<error_handler>(std::move(options)));
  b.route(http::verb::get, "/boom", [](request&, context&) -> asio::awaitable<response> {
    throw std::runtime_error("SELECT secret FROM /etc/passwd failed at db.cpp:42");
    co_return response{};
  });
  b.route(http::verb::get, "/int", [](request&, context&) -> asio::awaitable<response> {
    throw 42;
    co_return response{};
  });
  return std::move(b).build();
}

TEST(error_handler, leaks_nothing_to_the_client) {
  auto sink = std::make_shared<capture_sink>();
  auto app = failing_app({.log = logger{sink, log_level::info}});
  for (auto target : {"/boom", "/int"}) {
    request req{http::verb::get, target, 11};
    context ctx;
    auto res = run_blocking(app, req, ctx);
    EXPECT_EQ(res.result(), http::status::internal_server_error);
    EXPECT_EQ(res[http::field::content_type], "application/json");
    auto body = nlohmann::json::parse(res.body());
    EXPECT_EQ(body["error"], "internal server error");
    EXPECT_EQ(body["request_id"], ctx.request_id);
    EXPECT_EQ(body.size(), 2u);
    EXPECT_EQ(res.body().find("SELECT"), std::string::npos);
    EXPECT_EQ(res.body().find("passwd"), std::string::npos);
  }
  // The log has what the client does not, with the request id to match.
  ASSERT_EQ(sink->lines.size(), 2u);
  EXPECT_NE(sink->lines[0].find("db.cpp:42"), std::string::npos);
  EXPECT_NE(sink->lines[0].find("request.exception"), std::string::npos);
  EXPECT_EQ(app.counters()[1]->value("exceptions"), 2u);
}

TEST(error_handler, development_mode_adds_detail) {
  auto app = failing_app({.development = true, .log = logger{nullptr, log_level::off}});
  request req{http::verb::get, "/boom", 11};
  context ctx;
  auto body = nlohmann::json::parse(run_blocking(app, req, ctx).body());
  EXPECT_EQ(body["detail"], "SELECT secret FROM /etc/passwd failed at db.cpp:42");
}

TEST(error_handler, problem_json_when_chosen) {
  auto app = failing_app({.log = logger{nullptr, log_level::off}}, error_format::problem_json);
  request req{http::verb::get, "/boom", 11};
  context ctx;
  auto res = run_blocking(app, req, ctx);
  EXPECT_EQ(res[http::field::content_type], "application/problem+json");
  auto body = nlohmann::json::parse(res.body());
  EXPECT_EQ(body["status"], 500);
  EXPECT_EQ(body["title"], "Internal Server Error");
  EXPECT_EQ(body["detail"], "internal server error");
  EXPECT_EQ(body["request_id"], ctx.request_id);
}

}  // namespace
}  // namespace portcullis
