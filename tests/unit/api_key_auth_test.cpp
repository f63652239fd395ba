#include "portcullis/api_key_auth.hpp"

#include "support/run_awaitable.hpp"

#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"
#include "portcullis/errc.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <thread>

namespace portcullis {
namespace {

using namespace std::chrono_literals;

using test::run;

// A backend written from the interface alone: it keeps its records in a
// memory store, counts the calls it gets, and can be told to fail, to hang
// or to let a revocation slip in between reading a record and answering.
class test_store final : public api_key_store {
 public:
  enum class mode { ok, down, hang, revoke_during_find };

  asio::awaitable<void> create(const api_key_record& r) override {
    co_await fault();
    co_await inner_.create(r);
  }
  asio::awaitable<std::optional<api_key_record>> find_by_hash(const api_key_digest& h) override {
    ++finds;
    co_await fault();
    auto r = co_await inner_.find_by_hash(h);
    if (m == mode::revoke_during_find && r) {
      // The record was read while live; the revocation commits now.
      co_await revoke(r->owner, r->id, r->created);
    }
    co_return r;
  }
  asio::awaitable<void> touch(std::span<const api_key_use> uses) override {
    ++touches;
    co_await fault();
    co_await inner_.touch(uses);
  }
  asio::awaitable<bool> consume_use(std::string_view id, wall_time now) override {
    ++consumes;
    co_await fault();
    co_return co_await inner_.consume_use(id, now);
  }
  asio::awaitable<bool> revoke(std::string_view owner, std::string_view id,
                               wall_time now) override {
    co_await fault();
    auto r = co_await inner_.find_by_id(owner, id);
    bool ok = co_await inner_.revoke(owner, id, now);
    if (ok) publish_revocation(&r);
    co_return ok;
  }
  asio::awaitable<std::vector<api_key_record>> list(std::string_view owner,
                                                    std::size_t limit) override {
    co_await fault();
    co_return co_await inner_.list(owner, limit);
  }

  std::atomic<mode> m{mode::ok};
  std::atomic<int> finds{0}, touches{0}, consumes{0};

 private:
  asio::awaitable<void> fault() {
    if (m == mode::down)
      throw std::system_error(make_error_code(errc::store_unavailable), "connection refused");
    if (m == mode::hang) {
      asio::steady_timer t(co_await asio::this_coro::executor, 1h);
      co_await t.async_wait(asio::use_awaitable);  // until cancelled
    }
  }

  // The memory store, plus a lookup by id for the revocation's digest.
  struct inner_store {
    memory_api_key_store mem;
    asio::awaitable<void> create(const api_key_record& r) { co_await mem.create(r); }
    asio::awaitable<std::optional<api_key_record>> find_by_hash(const api_key_digest& h) {
      co_return co_await mem.find_by_hash(h);
    }
    asio::awaitable<void> touch(std::span<const api_key_use> u) { co_await mem.touch(u); }
    asio::awaitable<bool> consume_use(std::string_view id, wall_time now) {
      co_return co_await mem.consume_use(id, now);
    }
    asio::awaitable<bool> revoke(std::string_view o, std::string_view id, wall_time now) {
      co_return co_await mem.revoke(o, id, now);
    }
    asio::awaitable<std::vector<api_key_record>> list(std::string_view o, std::size_t n) {
      co_return co_await mem.list(o, n);
    }
    asio::awaitable<api_key_digest> find_by_id(std::string_view owner, std::string_view id) {
      for (const auto& r : co_await mem.list(owner, 100000))
        if (r.id == id) co_return r.hash;
      co_return api_key_digest{};
    }
  } inner_;
};

// Keeps every log line as the JSON the default sink would write.
class recording_sink final : public log_sink {
 public:
  void write(log_level level, std::string_view event, std::span<const log_field> f) override {
    std::lock_guard lock(m_);
    lines_.push_back(json_lines_sink::format(level, event, f));
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(m_);
    return lines_;
  }

 private:
  std::mutex m_;
  std::vector<std::string> lines_;
};

struct api_key_auth_fixture : ::testing::Test {
  manual_clock clk;
  std::shared_ptr<test_store> store = std::make_shared<test_store>();
  std::shared_ptr<recording_sink> sink = std::make_shared<recording_sink>();
  api_key_hasher hasher{{{.id = "k1", .secret = std::string(32, 's')}}};

  api_key_auth_options options() {
    return {.store = store,
            .hasher = hasher,
            .cache_ttl = 30s,
            .miss_ttl = 5s,
            .touch_interval = 10s,
            .store_timeout = 200ms,
            .log = logger(sink, log_level::debug),
            .time = &clk};
  }

  issued_api_key issue(new_api_key spec = {.owner = "alice", .scopes = {"items:read"}}) {
    auto k = make_api_key(spec, api_key_format{}, hasher, clk.wall_now());
    store->m = test_store::mode::ok;
    run(store->create(k.record));
    return k;
  }

  chain app(std::shared_ptr<const api_key_auth> auth) {
    chain::builder b;
    b.use("/api", auth);
    b.route(http::verb::get, "/api/whoami",
            [](request& req, context& ctx) -> asio::awaitable<response> {
              co_return json_response(req, http::status::ok,
                                      nlohmann::json{{"owner", ctx.who.subject},
                                                     {"key", ctx.who.key_id},
                                                     {"tier", ctx.who.tier},
                                                     {"scopes", ctx.who.scopes}}
                                          .dump());
            });
    b.route(http::verb::post, "/api/items",
            [](request& req, context&) -> asio::awaitable<response> {
              co_return json_response(req, http::status::created, "{}");
            },
            {.middleware = {require_scopes({"items:write"})}});
    return std::move(b).build();
  }

  static response get(const chain& c, std::string target,
                      std::initializer_list<std::pair<std::string, std::string>> headers = {},
                      http::verb v = http::verb::get) {
    request req{v, target, 11};
    req.set(http::field::host, "a");
    for (auto& [k, val] : headers) req.set(k, val);
    context ctx;
    return run_blocking(c, req, ctx);
  }

  api_key_status verify(const api_key_auth& a, const std::string& key) {
    return run(a.verify(key)).status;
  }
};

using api_key_auth_test = api_key_auth_fixture;

TEST_F(api_key_auth_test, missing_key_gets_401_with_a_hint) {
  auto auth = std::make_shared<api_key_auth>(options());
  auto c = app(auth);
  auto res = get(c, "/api/whoami");
  EXPECT_EQ(res.result(), http::status::unauthorized);
  auto body = nlohmann::json::parse(res.body());
  EXPECT_EQ(body["error"], "API key required");
  EXPECT_NE(body["details"]["hint"].get<std::string>().find("X-API-Key"), std::string::npos);
  EXPECT_EQ(res[http::field::www_authenticate], "Bearer realm=\"api\"");
  // A Basic credential is not an API key.
  EXPECT_EQ(get(c, "/api/whoami", {{"Authorization", "Basic YTpi"}}).result(),
            http::status::unauthorized);
  EXPECT_EQ(auth->counters()->value("missing"), 2u);
}

TEST_F(api_key_auth_test, valid_key_from_header_or_bearer_sets_the_identity) {
  auto k = issue({.owner = "alice", .tier = "pro", .scopes = {"items:read", "items:write"}});
  auto auth = std::make_shared<api_key_auth>(options());
  auto c = app(auth);

  for (auto res : {get(c, "/api/whoami", {{"X-API-Key", k.key}}),
                   get(c, "/api/whoami", {{"Authorization", "Bearer " + k.key}}),
                   get(c, "/api/whoami", {{"Authorization", "bearer  " + k.key + " "}})}) {
    ASSERT_EQ(res.result(), http::status::ok) << res.body();
    auto body = nlohmann::json::parse(res.body());
    EXPECT_EQ(body["owner"], "alice");
    EXPECT_EQ(body["key"], k.record.id);
    EXPECT_EQ(body["tier"], "pro");
    EXPECT_EQ(body["scopes"], nlohmann::json({"items:read", "items:write"}));
  }
  EXPECT_EQ(auth->counters()->value("allowed"), 3u);

  // The query string is ignored unless enabled.
  EXPECT_EQ(get(c, "/api/whoami?api_key=" + k.key).result(), http::status::unauthorized);
  auto o = options();
  o.query_parameter = "api_key";
  auto c2 = app(std::make_shared<api_key_auth>(o));
  EXPECT_EQ(get(c2, "/api/whoami?x=1&api_key=" + k.key).result(), http::status::ok);

  // Two different keys in one request are refused.
  auto other = issue();
  EXPECT_EQ(get(c, "/api/whoami", {{"X-API-Key", k.key}, {"Authorization", "Bearer " + other.key}})
                .result(),
            http::status::bad_request);
}

TEST_F(api_key_auth_test, unknown_revoked_expired_used_up_and_malformed_look_the_same) {
  auto revoked = issue();
  run(store->revoke("alice", revoked.record.id, clk.wall_now()));
  auto expiring = issue({.owner = "alice", .expires = clk.wall_now() + 1h});
  auto once = issue({.owner = "alice", .max_uses = 1});
  auto auth = std::make_shared<api_key_auth>(options());
  auto c = app(auth);
  EXPECT_EQ(get(c, "/api/whoami", {{"X-API-Key", expiring.key}}).result(), http::status::ok);
  EXPECT_EQ(get(c, "/api/whoami", {{"X-API-Key", once.key}}).result(), http::status::ok);
  clk.advance(2h);

  auto unknown = generate_api_key(api_key_format{});
  auto typo = unknown;
  typo[12] = typo[12] == 'x' ? 'y' : 'x';
  std::vector<std::pair<std::string, api_key_status>> cases{
      {unknown, api_key_status::unknown},
      {revoked.key, api_key_status::revoked},
      {expiring.key, api_key_status::expired},
      {once.key, api_key_status::used_up},
      {typo, api_key_status::malformed},
      {"sk_live_'; DROP TABLE api_keys;--", api_key_status::malformed},
      {std::string(8000, 'A'), api_key_status::malformed},
  };
  std::optional<response> first;
  for (auto& [key, why] : cases) {
    auto res = get(c, "/api/whoami", {{"X-API-Key", key}});
    EXPECT_EQ(res.result(), http::status::unauthorized) << to_string(why);
    EXPECT_EQ(res.body(), R"({"error":"invalid API key"})") << to_string(why);
    if (first) {
      EXPECT_EQ(res[http::field::www_authenticate], (*first)[http::field::www_authenticate]);
      EXPECT_EQ(res[http::field::content_type], (*first)[http::field::content_type]);
    }
    first = res;
    // The verdict itself knows why (for logs and tests, never for clients).
    auto again = verify(*auth, key);
    EXPECT_EQ(again, why) << key.substr(0, 12);
  }
}

TEST_F(api_key_auth_test, hits_and_misses_are_cached_for_their_ttl) {
  auto k = issue();
  auto auth = std::make_shared<api_key_auth>(options());
  auto unknown = generate_api_key(api_key_format{});

  EXPECT_EQ(verify(*auth, k.key), api_key_status::valid);
  EXPECT_EQ(verify(*auth, unknown), api_key_status::unknown);
  EXPECT_EQ(store->finds, 2);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(verify(*auth, k.key), api_key_status::valid);
    EXPECT_EQ(verify(*auth, unknown), api_key_status::unknown);
  }
  EXPECT_EQ(store->finds, 2);
  EXPECT_EQ(auth->counters()->value("cache_hits"), 200u);
  ASSERT_TRUE(auth->verify_cached(k.key));
  EXPECT_EQ(auth->verify_cached(k.key)->status, api_key_status::valid);
  EXPECT_EQ(auth->verify_cached(k.key)->who->owner, "alice");

  // The miss lives 5 s, the hit 30 s.
  clk.advance(6s);
  EXPECT_FALSE(auth->verify_cached(unknown));
  EXPECT_TRUE(auth->verify_cached(k.key));
  clk.advance(25s);
  EXPECT_FALSE(auth->verify_cached(k.key));
  EXPECT_EQ(verify(*auth, k.key), api_key_status::valid);
  EXPECT_EQ(store->finds, 3);
}

TEST_F(api_key_auth_test, the_cache_is_bounded) {
  auto o = options();
  o.cache_size = 32;
  auto auth = std::make_shared<api_key_auth>(o);
  std::vector<std::string> keys;
  for (int i = 0; i < 200; ++i) {
    keys.push_back(generate_api_key(api_key_format{}));
    verify(*auth, keys.back());
  }
  int cached = 0;
  for (auto& k : keys) cached += auth->verify_cached(k).has_value();
  EXPECT_LE(cached, 32);
  EXPECT_GT(cached, 0);
  // The newest are the ones kept.
  EXPECT_TRUE(auth->verify_cached(keys.back()));
}

TEST_F(api_key_auth_test, revocation_reaches_every_cache_at_once) {
  auto k = issue();
  auto here = std::make_shared<api_key_auth>(options());
  auto there = std::make_shared<api_key_auth>(options());  // another instance, same store
  EXPECT_EQ(verify(*here, k.key), api_key_status::valid);
  EXPECT_EQ(verify(*there, k.key), api_key_status::valid);

  // Someone else's revocation changes nothing.
  EXPECT_FALSE(run(here->revoke("mallory", k.record.id)));
  EXPECT_EQ(verify(*there, k.key), api_key_status::valid);

  EXPECT_TRUE(run(here->revoke("alice", k.record.id)));
  // No clock movement: the caches were told, not timed out.
  EXPECT_FALSE(here->verify_cached(k.key));
  EXPECT_FALSE(there->verify_cached(k.key));
  EXPECT_EQ(verify(*here, k.key), api_key_status::revoked);
  EXPECT_EQ(verify(*there, k.key), api_key_status::revoked);
  EXPECT_EQ(there->counters()->value("revocations"), 1u);
}

TEST_F(api_key_auth_test, a_fill_racing_a_revocation_is_not_cached_as_valid) {
  auto k = issue();
  auto auth = std::make_shared<api_key_auth>(options());
  store->m = test_store::mode::revoke_during_find;
  // The store read the key before the revocation committed: this one
  // request may pass, as it would have a moment earlier ...
  EXPECT_EQ(verify(*auth, k.key), api_key_status::valid);
  EXPECT_EQ(auth->counters()->value("fills_dropped"), 1u);
  // ... but nothing was cached, so the next one asks again and is refused.
  store->m = test_store::mode::ok;
  EXPECT_FALSE(auth->verify_cached(k.key));
  EXPECT_EQ(verify(*auth, k.key), api_key_status::revoked);
}

TEST_F(api_key_auth_test, uses_are_written_in_batches) {
  auto a = issue();
  auto b = issue({.owner = "bob"});
  auto auth = std::make_shared<api_key_auth>(options());
  for (int i = 0; i < 1000; ++i) {
    verify(*auth, a.key);
    if (i % 2 == 0) verify(*auth, b.key);
  }
  EXPECT_EQ(store->touches, 0);
  clk.advance(11s);
  verify(*auth, a.key);  // due: this request starts the write
  EXPECT_EQ(store->touches, 1);
  auto ra = run(store->find_by_hash(a.record.hash));
  auto rb = run(store->find_by_hash(b.record.hash));
  EXPECT_EQ(ra->uses, 1001u);
  EXPECT_EQ(rb->uses, 500u);
  EXPECT_EQ(ra->last_used, clk.wall_now());
  EXPECT_EQ(auth->counters()->value("touch_batches"), 1u);

  // A failed write is kept and retried.
  verify(*auth, a.key);
  store->m = test_store::mode::down;
  run(auth->flush());
  EXPECT_EQ(auth->counters()->value("touch_errors"), 1u);
  store->m = test_store::mode::ok;
  run(auth->flush());
  EXPECT_EQ(run(store->find_by_hash(a.record.hash))->uses, 1002u);
  // Nothing pending: no call.
  int before = store->touches;
  run(auth->flush());
  EXPECT_EQ(store->touches, before);
}

TEST_F(api_key_auth_test, use_limits_hold_through_the_cache) {
  auto k = issue({.owner = "alice", .max_uses = 3});
  auto auth = std::make_shared<api_key_auth>(options());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(verify(*auth, k.key), api_key_status::valid);
  EXPECT_EQ(verify(*auth, k.key), api_key_status::used_up);
  EXPECT_EQ(verify(*auth, k.key), api_key_status::used_up);
  EXPECT_EQ(store->consumes, 4);  // the last is answered from the cache
  EXPECT_EQ(store->finds, 1);
  EXPECT_EQ(run(store->find_by_hash(k.record.hash))->uses, 3u);
}

TEST_F(api_key_auth_test, scopes_are_enforced_with_403) {
  auto reader = issue({.owner = "alice", .scopes = {"items:read"}});
  auto writer = issue({.owner = "bob", .scopes = {"items:read", "items:write"}});
  auto c = app(std::make_shared<api_key_auth>(options()));
  auto res = get(c, "/api/items", {{"X-API-Key", reader.key}}, http::verb::post);
  EXPECT_EQ(res.result(), http::status::forbidden);
  EXPECT_EQ(nlohmann::json::parse(res.body())["details"]["required"],
            nlohmann::json({"items:write"}));
  EXPECT_EQ(get(c, "/api/items", {{"X-API-Key", writer.key}}, http::verb::post).result(),
            http::status::created);

  auto o = options();
  o.required_scopes = {"admin"};
  auto strict = std::make_shared<api_key_auth>(o);
  auto c2 = app(strict);
  EXPECT_EQ(get(c2, "/api/whoami", {{"X-API-Key", writer.key}}).result(), http::status::forbidden);
  EXPECT_EQ(strict->counters()->value("forbidden"), 1u);
}

TEST_F(api_key_auth_test, optional_mode_lets_anonymous_and_other_tokens_pass) {
  auto o = options();
  o.optional = true;
  auto c = app(std::make_shared<api_key_auth>(o));
  auto res = get(c, "/api/whoami");
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_EQ(nlohmann::json::parse(res.body())["owner"], "");
  EXPECT_EQ(get(c, "/api/whoami", {{"Authorization", "Bearer session.jwt.x"}}).result(),
            http::status::ok);
  // A key of ours that is wrong is still refused.
  EXPECT_EQ(get(c, "/api/whoami", {{"Authorization", "Bearer sk_live_nope"}}).result(),
            http::status::unauthorized);
}

TEST_F(api_key_auth_test, store_down_serves_cached_keys_and_503s_the_rest) {
  auto cached = issue();
  auto fresh = issue({.owner = "bob"});
  auto auth = std::make_shared<api_key_auth>(options());
  auto c = app(auth);
  EXPECT_EQ(get(c, "/api/whoami", {{"X-API-Key", cached.key}}).result(), http::status::ok);

  store->m = test_store::mode::down;
  EXPECT_EQ(get(c, "/api/whoami", {{"X-API-Key", cached.key}}).result(), http::status::ok);
  for (int i = 0; i < 20; ++i) {
    auto res = get(c, "/api/whoami", {{"X-API-Key", fresh.key}});
    ASSERT_EQ(res.result(), http::status::service_unavailable);
    EXPECT_EQ(res.body(), R"({"error":"authentication unavailable"})");
    EXPECT_EQ(res[http::field::retry_after], "1");
  }
  EXPECT_EQ(auth->counters()->value("store_errors"), 20u);
  EXPECT_EQ(auth->counters()->value("unavailable"), 20u);
  // One warning for twenty failures (throttled); the error is there, the key is not.
  int warnings = 0;
  for (auto& l : sink->lines())
    if (l.find("\"api_key.store_error\"") != std::string::npos) {
      ++warnings;
      EXPECT_NE(l.find("connection refused"), std::string::npos) << l;
    }
  EXPECT_EQ(warnings, 1);

  // The store comes back: so do fresh keys.
  store->m = test_store::mode::ok;
  EXPECT_EQ(get(c, "/api/whoami", {{"X-API-Key", fresh.key}}).result(), http::status::ok);
}

TEST_F(api_key_auth_test, store_down_with_refuse_policy_refuses_cached_keys_too) {
  auto k = issue();
  auto o = options();
  o.when_store_down = store_down_policy::refuse;
  auto auth = std::make_shared<api_key_auth>(o);
  EXPECT_EQ(verify(*auth, k.key), api_key_status::valid);
  store->m = test_store::mode::down;
  EXPECT_EQ(verify(*auth, k.key), api_key_status::valid);  // not known to be down yet ...
  EXPECT_EQ(verify(*auth, generate_api_key({})), api_key_status::unavailable);
  EXPECT_EQ(verify(*auth, k.key), api_key_status::unavailable);  // ... now it is
  store->m = test_store::mode::ok;
  EXPECT_EQ(verify(*auth, k.key), api_key_status::valid);
  EXPECT_EQ(verify(*auth, k.key), api_key_status::valid);
}

TEST_F(api_key_auth_test, a_hanging_store_gives_503_after_the_timeout) {
  auto k = issue();
  auto auth = std::make_shared<api_key_auth>(options());  // store_timeout 200 ms
  store->m = test_store::mode::hang;
  auto c = app(auth);
  auto t0 = std::chrono::steady_clock::now();
  auto res = get(c, "/api/whoami", {{"X-API-Key", k.key}});
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(res.result(), http::status::service_unavailable);
  EXPECT_GE(took, 190ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(auth->counters()->value("store_errors"), 1u);
}

TEST_F(api_key_auth_test, keys_never_reach_the_log) {
  auto k = issue();
  auto o = options();
  o.when_store_down = store_down_policy::refuse;
  auto auth = std::make_shared<api_key_auth>(o);
  auto c = app(auth);
  auto unknown = generate_api_key({});
  get(c, "/api/whoami", {{"X-API-Key", k.key}});
  get(c, "/api/whoami", {{"X-API-Key", unknown}});
  store->m = test_store::mode::down;
  get(c, "/api/whoami", {{"X-API-Key", k.key}});
  get(c, "/api/whoami", {{"X-API-Key", generate_api_key({})}});
  run(auth->flush());
  auto lines = sink->lines();
  ASSERT_FALSE(lines.empty());
  bool fingerprinted = false;
  for (auto& l : lines) {
    for (auto& secret : {k.key, unknown}) {
      // Neither the key nor any 12-character piece of its random part.
      for (std::size_t i = 8; i + 12 <= secret.size(); i += 6)
        EXPECT_EQ(l.find(secret.substr(i, 12)), std::string::npos) << l;
    }
    fingerprinted |= l.find(fingerprint(unknown)) != std::string::npos;
  }
  EXPECT_TRUE(fingerprinted);
}

TEST_F(api_key_auth_test, keys_of_a_rotated_pepper_still_verify_and_revoke) {
  api_key_hasher old_hasher{{{.id = "k1", .secret = std::string(32, 's')}}};
  auto k = make_api_key({.owner = "alice"}, api_key_format{}, old_hasher, clk.wall_now());
  run(store->create(k.record));
  auto o = options();
  o.hasher = api_key_hasher{
      {{.id = "k2", .secret = std::string(32, 't')}, {.id = "k1", .secret = std::string(32, 's')}}};
  auto auth = std::make_shared<api_key_auth>(o);
  EXPECT_EQ(verify(*auth, k.key), api_key_status::valid);
  EXPECT_TRUE(auth->verify_cached(k.key));
  EXPECT_TRUE(run(auth->revoke("alice", k.record.id)));
  EXPECT_FALSE(auth->verify_cached(k.key));
  EXPECT_EQ(verify(*auth, k.key), api_key_status::revoked);
}

TEST_F(api_key_auth_test, bad_options_fail_at_construction) {
  auto expect_throw = [&](auto change, std::string_view mentions) {
    auto o = options();
    change(o);
    try {
      api_key_auth a(o);
      ADD_FAILURE() << mentions;
    } catch (const config_error& e) {
      EXPECT_NE(std::string(e.what()).find(mentions), std::string::npos) << e.what();
    }
  };
  expect_throw([](auto& o) { o.store.reset(); }, "store");
  expect_throw([](auto& o) { o.cache_ttl = 0s; }, "cache_ttl");
  expect_throw([](auto& o) { o.miss_ttl = 2min; }, "miss_ttl");
  expect_throw([](auto& o) { o.touch_interval = 1ms; }, "touch_interval");
  expect_throw([](auto& o) { o.store_timeout = 0s; }, "store_timeout");
  expect_throw([](auto& o) { o.required_scopes = {"Bad Scope"}; }, "required scope");
  expect_throw([](auto& o) { o.query_parameter = "a&b"; }, "query_parameter");
  expect_throw([](auto& o) { o.format.prefix = "x"; }, "prefix");
  EXPECT_THROW(require_scopes({}), config_error);
  EXPECT_THROW(require_scopes({"a b"}), config_error);
}

TEST_F(api_key_auth_test, concurrent_verifications_and_revocations_stay_consistent) {
  std::vector<issued_api_key> keys;
  for (int i = 0; i < 8; ++i) keys.push_back(issue({.owner = "u" + std::to_string(i)}));
  auto auth = std::make_shared<api_key_auth>(options());
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) verify(*auth, keys[(t + i) % keys.size()].key);
    });
  std::this_thread::sleep_for(20ms);
  for (int i = 0; i < 4; ++i) run(auth->revoke("u" + std::to_string(i), keys[i].record.id));
  stop = true;
  for (auto& th : threads) th.join();
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(verify(*auth, keys[i].key), i < 4 ? api_key_status::revoked : api_key_status::valid);
}

}  // namespace
}  // namespace portcullis
