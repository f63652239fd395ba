#include "portcullis/api_key_routes.hpp"

#include "portcullis/blocking.hpp"
#include "portcullis/errc.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace portcullis {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Stands in for a session middleware: "X-Test-User: alice" signs alice in.
std::shared_ptr<const middleware> test_sessions() {
  return make_middleware(
      [](request& req, context& ctx, next_handler next) -> asio::awaitable<response> {
        if (auto it = req.find("X-Test-User"); it != req.end()) {
          ctx.who.via = identity::method::session;
          ctx.who.subject = std::string(it->value());
        }
        co_return co_await next(req, ctx);
      });
}

struct api_key_routes_fixture : ::testing::Test {
  manual_clock clk;
  std::shared_ptr<memory_api_key_store> store = std::make_shared<memory_api_key_store>();
  std::shared_ptr<api_key_auth> auth = std::make_shared<api_key_auth>(
      api_key_auth_options{.store = store,
                           .hasher = api_key_hasher{{{.id = "k1", .secret = std::string(32, 'z')}}},
                           .optional = true,
                           .time = &clk});
  std::optional<chain> app;

  void SetUp() override {
    chain::builder b;
    b.use(test_sessions());
    b.use("/api", auth);
    add_api_key_routes(b, {.store = store,
                           .auth = auth,
                           .grantable_scopes = {"items:read", "items:write"},
                           .tier_of = [](const context&) { return std::string("pro"); },
                           .max_keys_per_owner = 3});
    b.route(
        http::verb::get, "/api/whoami",
        [](request& req, context& ctx) -> asio::awaitable<response> {
          co_return json_response(req, http::status::ok, json{{"owner", ctx.who.subject}}.dump());
        });
    app.emplace(std::move(b).build());
  }

  response send(http::verb v, std::string target, std::string user, std::string body = "",
                std::string api_key = "") {
    request req{v, target, 11};
    req.set(http::field::host, "a");
    if (!user.empty()) req.set("X-Test-User", user);
    if (!api_key.empty()) req.set("X-API-Key", api_key);
    req.body() = body;
    req.prepare_payload();
    context ctx;
    return run_blocking(*app, req, ctx);
  }
};

using api_key_routes_test = api_key_routes_fixture;

TEST_F(api_key_routes_test, create_list_use_and_revoke) {
  auto created = send(http::verb::post, "/api-keys", "alice",
                      R"({"name":"ci","scopes":["items:read"],"expires_in":3600,"max_uses":10})");
  ASSERT_EQ(created.result(), http::status::created) << created.body();
  EXPECT_EQ(created[http::field::cache_control], "no-store");
  auto c = json::parse(created.body());
  const auto key = c["key"].get<std::string>();
  const auto id = c["id"].get<std::string>();
  EXPECT_EQ(created[http::field::location], "/api-keys/" + id);
  EXPECT_EQ(c["tier"], "pro");
  EXPECT_EQ(c["scopes"], json({"items:read"}));
  EXPECT_EQ(c["max_uses"], 10);
  EXPECT_EQ(c["expires_at"].get<std::int64_t>() - c["created_at"].get<std::int64_t>(), 3600);
  EXPECT_EQ(c["display"], api_key_display(key));

  // The key works; the list never shows it again.
  auto who = send(http::verb::get, "/api/whoami", "", "", key);
  EXPECT_EQ(json::parse(who.body())["owner"], "alice");
  auto list = send(http::verb::get, "/api-keys", "alice");
  ASSERT_EQ(list.result(), http::status::ok);
  EXPECT_EQ(list.body().find(key.substr(8, 20)), std::string::npos);
  auto keys = json::parse(list.body())["keys"];
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0]["id"], id);
  EXPECT_EQ(keys[0]["uses"], 1);
  EXPECT_TRUE(json::parse(send(http::verb::get, "/api-keys", "bob").body())["keys"].empty());

  // Only the owner revokes; then the key is refused at once.
  EXPECT_EQ(send(http::verb::delete_, "/api-keys/" + id, "bob").result(), http::status::not_found);
  EXPECT_EQ(send(http::verb::get, "/api/whoami", "", "", key).result(), http::status::ok);
  EXPECT_EQ(send(http::verb::delete_, "/api-keys/" + id, "alice").result(),
            http::status::no_content);
  EXPECT_EQ(send(http::verb::get, "/api/whoami", "", "", key).result(), http::status::unauthorized);
  EXPECT_EQ(send(http::verb::delete_, "/api-keys/" + id, "alice").result(),
            http::status::not_found);
}

TEST_F(api_key_routes_test, only_a_session_manages_keys) {
  auto c = json::parse(send(http::verb::post, "/api-keys", "alice", "{}").body());
  const auto key = c["key"].get<std::string>();
  // Signed in with the key alone: no.
  for (auto v : {http::verb::post, http::verb::get})
    EXPECT_EQ(send(v, "/api-keys", "", "{}", key).result(), http::status::unauthorized);
  EXPECT_EQ(
      send(http::verb::delete_, "/api-keys/" + c["id"].get<std::string>(), "", "", key).result(),
      http::status::unauthorized);
  EXPECT_EQ(send(http::verb::get, "/api-keys", "").result(), http::status::unauthorized);
}

TEST_F(api_key_routes_test, hostile_bodies_get_400_without_echo) {
  const std::string bodies[] = {
      "not json",
      "[]",
      R"({"name":5})",
      R"({"scopes":["admin"]})",
      R"({"scopes":[1]})",
      R"({"expires_in":0})",
      R"({"expires_in":-5})",
      R"({"max_uses":0})",
      R"({"extra":true})",
      "{\"name\":\"" + std::string(1 << 20, 'n') + "\"}",
      "{\"name\":\"bad \xC3\x28\"}",
      R"({"name":"tab\there"})",
      R"({"name":"x'); DROP TABLE keys;--","scopes":["items:read","items:read"]})",
      // Not JSON, though nlohmann::json::parse reads the first as {"name":"k"}
      // (it stops at a NUL) and the second as {"name":"b"}.
      std::string("{\"name\":\"k\"}\0junk", 16),
      R"({"name":"a","name":"b"})",
  };
  for (const auto& b : bodies) {
    auto res = send(http::verb::post, "/api-keys", "alice", b);
    EXPECT_EQ(res.result(), http::status::bad_request) << b.substr(0, 60);
    EXPECT_EQ(res.body().find("DROP"), std::string::npos);
    EXPECT_LT(res.body().size(), 300u);
  }
  EXPECT_EQ(store->size(), 0u);
  // SQL metacharacters in a name are just a name.
  auto ok = send(http::verb::post, "/api-keys", "alice", R"({"name":"x'); DROP TABLE keys;--"})");
  ASSERT_EQ(ok.result(), http::status::created);
  EXPECT_EQ(json::parse(ok.body())["name"], "x'); DROP TABLE keys;--");
}

TEST_F(api_key_routes_test, the_allowance_is_enforced) {
  std::string first;
  for (int i = 0; i < 3; ++i) {
    auto res = send(http::verb::post, "/api-keys", "alice", "{}");
    ASSERT_EQ(res.result(), http::status::created);
    if (i == 0) first = json::parse(res.body())["id"];
  }
  EXPECT_EQ(send(http::verb::post, "/api-keys", "alice", "{}").result(), http::status::conflict);
  EXPECT_EQ(send(http::verb::post, "/api-keys", "bob", "{}").result(), http::status::created);
  send(http::verb::delete_, "/api-keys/" + first, "alice");
  EXPECT_EQ(send(http::verb::post, "/api-keys", "alice", "{}").result(), http::status::created);
}

TEST(api_key_routes, bad_options_fail_at_build) {
  auto store = std::make_shared<memory_api_key_store>();
  auto auth = std::make_shared<api_key_auth>(api_key_auth_options{.store = store});
  chain::builder b;
  EXPECT_THROW(add_api_key_routes(b, {.auth = auth}), config_error);
  EXPECT_THROW(add_api_key_routes(b, {.store = store}), config_error);
  EXPECT_THROW(add_api_key_routes(b, {.store = store, .auth = auth, .path = "keys"}), config_error);
  EXPECT_THROW(add_api_key_routes(b, {.store = store, .auth = auth, .path = "/keys/"}),
               config_error);
  EXPECT_THROW(add_api_key_routes(b, {.store = store, .auth = auth, .max_keys_per_owner = 0}),
               config_error);
}

}  // namespace
}  // namespace portcullis
