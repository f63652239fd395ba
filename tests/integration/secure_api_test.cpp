// The reference server over real HTTP on loopback: the routes, the session
// flow, errors, metrics and the configuration checks.
#include "support/reference_server.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

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
    // The API preset of the security headers.
    EXPECT_EQ(res["X-Content-Type-Options"], "nosniff");
    EXPECT_EQ(res["X-Frame-Options"], "DENY");
    EXPECT_NE(res["Content-Security-Policy"].find("default-src 'none'"), std::string::npos);
    EXPECT_EQ(res.count("Strict-Transport-Security"), 0u) << "never over plain HTTP";
    EXPECT_EQ(res.count(bh::field::server), 0u);
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

  auto again = server_->request(bh::verb::post, "/users",
                                json{{"email", email}, {"password", "another long one"}}.dump());
  EXPECT_EQ(again.result(), bh::status::conflict);

  auto bad = server_->request(bh::verb::post, "/auth/login",
                              json{{"email", email}, {"password", "wrong password!"}}.dump());
  EXPECT_EQ(bad.result(), bh::status::unauthorized);
  auto unknown = server_->request(bh::verb::post, "/auth/login",
                                  json{{"email", "nobody@example.com"}, {"password", "x"}}.dump());
  EXPECT_EQ(unknown.result(), bh::status::unauthorized);
  EXPECT_EQ(unknown.body(), bad.body()) << "no account-existence oracle";

  auto login =
      server_->request(bh::verb::post, "/auth/login",
                       json{{"email", email}, {"password", "correct horse battery"}}.dump());
  ASSERT_EQ(login.result(), bh::status::ok) << login.body();
  std::string token = json::parse(login.body())["token"];
  EXPECT_EQ(token.rfind("sess_", 0), 0u);

  auto anon = server_->request(bh::verb::get, "/profile");
  EXPECT_EQ(anon.result(), bh::status::unauthorized);
  auto forged =
      server_->request(bh::verb::get, "/profile", "", {{"Authorization", "Bearer sess_forged"}});
  EXPECT_EQ(forged.result(), bh::status::unauthorized);

  auto me = server_->request(bh::verb::get, "/profile", "", {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(me.result(), bh::status::ok);
  EXPECT_EQ(json::parse(me.body())["name"], "Ada");
  EXPECT_EQ(me[bh::field::cache_control], "no-store");

  // The bio is rich text: stored only as the strict allowlist leaves it.
  auto patch = server_->request(
      bh::verb::patch, "/profile",
      json{{"bio", R"x(<b>hi</b><img src=x onerror=alert(1)><a href="javascript:alert(1)">x</a>)x"},
           {"website", ""}}
          .dump(),
      {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(patch.result(), bh::status::ok) << patch.body();
  auto again_me =
      server_->request(bh::verb::get, "/profile", "", {{"Authorization", "Bearer " + token}});
  std::string bio = json::parse(again_me.body())["bio"];
  EXPECT_NE(bio.find("<b>hi</b>"), std::string::npos) << bio;
  EXPECT_EQ(bio.find("onerror"), std::string::npos) << bio;
  EXPECT_EQ(bio.find("javascript:"), std::string::npos) << bio;
  EXPECT_EQ(bio.find("<img"), std::string::npos) << bio;

  // Validation runs after the session check: anonymous gets 401, not 400.
  auto bad_site = server_->request(bh::verb::patch, "/profile", json{{"website", "ftp://x"}}.dump(),
                                   {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(bad_site.result(), bh::status::bad_request);
  EXPECT_EQ(
      server_->request(bh::verb::patch, "/profile", json{{"website", "ftp://x"}}.dump()).result(),
      bh::status::unauthorized);
}

TEST_F(secure_api, api_key_lifecycle_over_http) {
  const std::string email = "keys-" + std::to_string(::getpid()) + "@example.com";
  ASSERT_EQ(server_
                ->request(bh::verb::post, "/users",
                          json{{"email", email}, {"password", "a long enough password"}}.dump())
                .result(),
            bh::status::created);
  auto login =
      server_->request(bh::verb::post, "/auth/login",
                       json{{"email", email}, {"password", "a long enough password"}}.dump());
  std::string session = "Bearer " + json::parse(login.body())["token"].get<std::string>();

  auto created = server_->request(bh::verb::post, "/api-keys",
                                  json{{"name", "ci"}, {"scopes", {"items:read"}}}.dump(),
                                  {{"Authorization", session}});
  ASSERT_EQ(created.result(), bh::status::created) << created.body();
  auto record = json::parse(created.body());
  std::string key = record["key"], id = record["id"];

  // The key works on its own, and a forged or mistyped one does not.
  EXPECT_EQ(server_->request(bh::verb::get, "/items", "", {{"X-API-Key", key}}).result(),
            bh::status::ok);
  std::string typo = key;
  typo.back() = typo.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(server_->request(bh::verb::get, "/items", "", {{"X-API-Key", typo}}).result(),
            bh::status::unauthorized);

  auto listed = server_->request(bh::verb::get, "/api-keys", "", {{"Authorization", session}});
  ASSERT_EQ(listed.result(), bh::status::ok);
  EXPECT_EQ(listed.body().find(key), std::string::npos) << "the key is shown once, at creation";

  // Only the owner revokes, and then the key is refused at once.
  EXPECT_EQ(
      server_->request(bh::verb::delete_, "/api-keys/" + id, "", {{"X-API-Key", key}}).result(),
      bh::status::unauthorized);
  EXPECT_EQ(server_->request(bh::verb::delete_, "/api-keys/" + id, "", {{"Authorization", session}})
                .result(),
            bh::status::no_content);
  EXPECT_EQ(server_->request(bh::verb::get, "/items", "", {{"X-API-Key", key}}).result(),
            bh::status::unauthorized);
}

TEST_F(secure_api, bodies_are_validated_with_field_paths) {
  auto res = server_->request(bh::verb::post, "/users",
                              json{{"email", "not-an-email"}, {"password", "short"}}.dump());
  ASSERT_EQ(res.result(), bh::status::bad_request);
  auto body = json::parse(res.body());
  EXPECT_EQ(body["error"], "Validation failed");
  std::set<std::string> fields;
  for (const auto& d : body["details"]) fields.insert(d["field"].get<std::string>());
  EXPECT_TRUE(fields.count("email"));
  EXPECT_TRUE(fields.count("password"));

  auto wrong_type =
      server_->request(bh::verb::post, "/users", "email=a@b.c", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(wrong_type.result(), bh::status::unsupported_media_type);
  auto broken = server_->request(bh::verb::post, "/users", R"({"email": )");
  EXPECT_EQ(broken.result(), bh::status::bad_request);
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
      // Redis can fail: what then happens must be said, not defaulted.
      {R"({"stores": {"rate_limit": "redis", "redis_url": "redis://127.0.0.1:1"}})",
       "stores.rate_limit_on_error\" is required"},
      {R"({"stores": {"rate_limit_on_error": "sometimes"}})", "must be one of closed, open"},
      {R"({"stores": {"memory_max_keys": 0}})", "stores.memory_max_keys\" must be from 1"},
      {R"({"stores": {"rate_limit": "redis", "redis_url": "redis://127.0.0.1:1",
                      "rate_limit_on_error": "open", "memory_max_keys": 1000}})",
       "applies to stores.rate_limit \"memory\" only"},
      {R"({"rate_limits": {"api": {"limit": 0}}})", "rate_limits.api.limit"},
      {R"({"rate_limits": {"login": {"window_seconds": "15m"}}})",
       "rate_limits.login.window_seconds"},
      {R"({"rate_limits": {"apis": {"limit": 5}}})", "\"rate_limits.apis\" is not a known key"},
      {R"({"rate_limits": {"tiers": {"gold": {"limit": 5}}}})", "rate_limits.tiers.gold"},
      {R"({"rate_limits": {"api": {"limit": 5, "window": 60}}})", "rate_limits.api.window"},
      // Uploads, HTTPS, versioning and the test hook.
      {R"({"upload": {"allowed_types": ["png"]}})", "upload.allowed_types"},
      {R"({"upload": {"max_files": 0}})", "upload.max_files"},
      {R"({"upload_limit": 1000, "upload": {"max_file_size": 5000}})", "upload.max_file_size"},
      {R"({"upload": {"types": []}})", "\"upload.types\" is not a known key"},
      {R"({"https": {"enforce": "refuse"}})", "needs \"tls\" or \"trusted_proxies\""},
      {R"({"trusted_proxies": ["10.0.0.0/8"], "https": {"enforce": "redirect"}})",
       "https.allowed_hosts"},
      {R"({"https": {"enforce": "always"}})", "https.enforce"},
      {R"({"versioning": {"unversioned_deprecated": "1 June 2026"}})", "YYYY-MM-DD"},
      {R"({"versioning": {"unversioned_deprecated": "2026-02-30"}})", "YYYY-MM-DD"},
      {R"({"versioning": {"unversioned_sunset": "2027-01-01"}})", "needs versioning."},
      {R"({"versioning": {"unversioned_deprecated": "2027-01-01",
                          "unversioned_sunset": "2026-01-01"}})",
       "must not be before"},
      {R"({"slow_route": true})", "needs \"development\": true"},
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
