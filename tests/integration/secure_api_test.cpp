// The reference server over real HTTP on loopback: the routes, the session
// flow, errors, metrics and the configuration checks.
#include "support/reference_server.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace portcullis {
namespace {

using test::reference_server;
using json = nlohmann::json;
namespace bh = boost::beast::http;

class secure_api : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new reference_server(R"({"threads": 2})"); }
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->stop(), 0) << "the server must exit cleanly on SIGTERM";
    delete server_;
  }
  static reference_server* server_;
};
reference_server* secure_api::server_ = nullptr;

TEST_F(secure_api, health_answers_json) {
  for (auto path : {"/health", "/v1/health"}) {
    auto res = server_->request(bh::verb::get, path);
    EXPECT_EQ(res.result(), bh::status::ok);
    EXPECT_EQ(res[bh::field::content_type], "application/json");
    EXPECT_EQ(json::parse(res.body())["status"], "ok");
  }
}

TEST_F(secure_api, unknown_routes_and_methods_are_json_errors) {
  auto nf = server_->request(bh::verb::get, "/nope");
  EXPECT_EQ(nf.result(), bh::status::not_found);
  EXPECT_EQ(json::parse(nf.body())["error"], "not found");
  auto na = server_->request(bh::verb::delete_, "/health");
  EXPECT_EQ(na.result(), bh::status::method_not_allowed);
  EXPECT_FALSE(na[bh::field::allow].empty());
}

TEST_F(secure_api, signup_login_profile_flow) {
  const std::string email = "ada-" + std::to_string(::getpid()) + "@example.com";
  auto created = server_->request(
      bh::verb::post, "/users",
      json{{"email", email}, {"password", "correct horse battery"}, {"name", "Ada"}}.dump());
  ASSERT_EQ(created.result(), bh::status::created) << created.body();
  EXPECT_EQ(json::parse(created.body())["email"], email);
  EXPECT_EQ(created.body().find("password"), std::string::npos);

  auto again = server_->request(
      bh::verb::post, "/users", json{{"email", email}, {"password", "another long one"}}.dump());
  EXPECT_EQ(again.result(), bh::status::conflict);

  auto bad = server_->request(bh::verb::post, "/auth/login",
                              json{{"email", email}, {"password", "wrong password!"}}.dump());
  EXPECT_EQ(bad.result(), bh::status::unauthorized);
  auto unknown = server_->request(bh::verb::post, "/auth/login",
                                  json{{"email", "nobody@example.com"}, {"password", "x"}}.dump());
  EXPECT_EQ(unknown.result(), bh::status::unauthorized);
  EXPECT_EQ(unknown.body(), bad.body()) << "no account-existence oracle";

  auto login = server_->request(bh::verb::post, "/auth/login",
                                json{{"email", email}, {"password", "correct horse battery"}}.dump());
  ASSERT_EQ(login.result(), bh::status::ok) << login.body();
  std::string token = json::parse(login.body())["token"];
  EXPECT_EQ(token.rfind("sess_", 0), 0u);

  auto anon = server_->request(bh::verb::get, "/profile");
  EXPECT_EQ(anon.result(), bh::status::unauthorized);
  auto forged = server_->request(bh::verb::get, "/profile", "",
                                 {{"Authorization", "Bearer sess_forged"}});
  EXPECT_EQ(forged.result(), bh::status::unauthorized);

  auto me = server_->request(bh::verb::get, "/profile", "", {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(me.result(), bh::status::ok);
  EXPECT_EQ(json::parse(me.body())["name"], "Ada");
  EXPECT_EQ(me[bh::field::cache_control], "no-store");
}

TEST_F(secure_api, items_paginate) {
  auto res = server_->request(bh::verb::get, "/items?page=2&limit=10");
  ASSERT_EQ(res.result(), bh::status::ok);
  auto body = json::parse(res.body());
  EXPECT_EQ(body["items"].size(), 10u);
  EXPECT_EQ(body["items"][0]["id"], 11);
  EXPECT_EQ(server_->request(bh::verb::get, "/items?limit=500").result(), bh::status::bad_request);
}

TEST_F(secure_api, metrics_in_prometheus_format_from_loopback) {
  server_->request(bh::verb::get, "/nope");
  auto res = server_->request(bh::verb::get, "/metrics");
  ASSERT_EQ(res.result(), bh::status::ok);
  EXPECT_NE(res[bh::field::content_type].find("text/plain"), std::string::npos);
  EXPECT_NE(res.body().find("# TYPE portcullis_chain_not_found_total counter"), std::string::npos);
  EXPECT_NE(res.body().find("portcullis_error_handler_exceptions_total"), std::string::npos);
}

TEST(secure_api_config, bad_configuration_stops_the_server_with_a_message) {
  struct bad {
    const char* config;
    const char* says;
  } cases[] = {
      {R"({"listen": {"port": 70000}})", "listen.port"},
      {R"({"threds": 2})", "\"threds\" is not a known key"},
      {R"({"stores": {"rate_limit": "redis"}})", "stores.redis_url"},
      {R"({"trusted_proxies": ["0.0.0.0/0"]})", "trusted_proxies"},
      {R"({"tls": {"certificate": "/nonexistent.pem"}})", "private_key"},
  };
  for (const auto& c : cases) {
    char path[] = "/tmp/portcullis-bad-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, c.config, strlen(c.config)), static_cast<ssize_t>(strlen(c.config)));
    close(fd);
    std::string cmd = std::string(PORTCULLIS_SECURE_API_BIN) + " --config " + path + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[512];
    while (fgets(buf, sizeof buf, p)) out += buf;
    int st = pclose(p);
    std::remove(path);
    EXPECT_NE(WEXITSTATUS(st), 0) << c.config;
    EXPECT_NE(out.find(c.says), std::string::npos) << c.config << " said: " << out;
  }
}

}  // namespace
}  // namespace portcullis
