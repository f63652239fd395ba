#include "portcullis/api_key_store.hpp"

#include "support/run_awaitable.hpp"

#include "portcullis/clock.hpp"
#include "portcullis/errc.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace portcullis {
namespace {

using namespace std::string_literals;

using test::run;

struct fixture : ::testing::Test {
  manual_clock clk;
  api_key_format fmt;
  api_key_hasher hasher;
  memory_api_key_store store;

  issued_api_key issue(std::string owner, std::string name = "n") {
    auto k = make_api_key({.owner = owner, .name = name, .scopes = {"items:read"}}, fmt, hasher,
                          clk.wall_now());
    run(store.create(k.record));
    return k;
  }
};

using memory_store = fixture;

TEST_F(memory_store, create_find_list_and_the_record_shape) {
  auto a = issue("alice", "first");
  clk.advance(std::chrono::seconds(1));
  auto b = issue("alice", "second");
  issue("bob");

  auto found = run(store.find_by_hash(hasher.digest(a.key)));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, a.record.id);
  EXPECT_EQ(found->owner, "alice");
  EXPECT_EQ(found->display, api_key_display(a.key));
  EXPECT_EQ(found->hash_scheme, "sha256");
  EXPECT_EQ(found->tier, "default");
  EXPECT_EQ(found->scopes, std::vector<std::string>{"items:read"});
  EXPECT_EQ(found->id.substr(0, 4), "key_");
  EXPECT_EQ(found->id.size(), 20u);
  EXPECT_FALSE(run(store.find_by_hash(hasher.digest(a.key + "x"))));

  auto list = run(store.list("alice"));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, b.record.id);  // newest first
  EXPECT_EQ(run(store.list("alice", 1)).size(), 1u);
  EXPECT_TRUE(run(store.list("carol")).empty());
  // Nothing in a record is the key.
  for (const auto& r : list) {
    EXPECT_EQ(r.display.find(a.key.substr(8, 20)), std::string::npos);
    EXPECT_EQ(r.name.find(a.key), std::string::npos);
  }
}

TEST_F(memory_store, duplicates_are_refused) {
  auto a = issue("alice");
  try {
    run(store.create(a.record));
    ADD_FAILURE();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), make_error_code(errc::store_protocol));
  }
}

TEST_F(memory_store, only_the_owner_revokes_and_listeners_hear_it) {
  auto a = issue("alice");
  std::vector<std::string> heard;
  auto token =
      store.subscribe([&](const api_key_digest* d) { heard.push_back(d ? to_hex(*d) : "*"); });

  EXPECT_FALSE(run(store.revoke("mallory", a.record.id, clk.wall_now())));
  EXPECT_FALSE(run(store.revoke("alice", "key_nope", clk.wall_now())));
  EXPECT_TRUE(heard.empty());
  EXPECT_FALSE(run(store.find_by_hash(a.record.hash))->revoked);

  EXPECT_TRUE(run(store.revoke("alice", a.record.id, clk.wall_now())));
  EXPECT_EQ(heard, std::vector<std::string>{to_hex(a.record.hash)});
  EXPECT_TRUE(run(store.find_by_hash(a.record.hash))->revoked);
  // A second revocation changes nothing and says so.
  EXPECT_FALSE(run(store.revoke("alice", a.record.id, clk.wall_now())));
  EXPECT_EQ(heard.size(), 1u);

  store.unsubscribe(token);
  auto b = issue("alice");
  EXPECT_TRUE(run(store.revoke("alice", b.record.id, clk.wall_now())));
  EXPECT_EQ(heard.size(), 1u);
}

TEST_F(memory_store, touch_adds_uses_and_never_moves_last_used_back) {
  auto a = issue("alice");
  auto t1 = clk.wall_now() + std::chrono::seconds(5);
  std::vector<api_key_use> batch{{a.record.id, t1, 3}, {"key_missing", t1, 9}};
  run(store.touch(batch));
  std::vector<api_key_use> older{{a.record.id, t1 - std::chrono::seconds(3), 2}};
  run(store.touch(older));
  auto r = run(store.find_by_hash(a.record.hash));
  EXPECT_EQ(r->uses, 5u);
  EXPECT_EQ(r->last_used, t1);
}

TEST_F(memory_store, consume_use_stops_at_the_limit) {
  auto k = make_api_key({.owner = "alice", .max_uses = 2}, fmt, hasher, clk.wall_now());
  run(store.create(k.record));
  EXPECT_TRUE(run(store.consume_use(k.record.id, clk.wall_now())));
  EXPECT_TRUE(run(store.consume_use(k.record.id, clk.wall_now())));
  EXPECT_FALSE(run(store.consume_use(k.record.id, clk.wall_now())));
  EXPECT_EQ(run(store.find_by_hash(k.record.hash))->uses, 2u);
  EXPECT_FALSE(run(store.consume_use("key_missing", clk.wall_now())));
}

TEST_F(memory_store, is_bounded) {
  memory_api_key_store small{{.max_keys = 1}};
  run(small.create(make_api_key({.owner = "a"}, fmt, hasher, clk.wall_now()).record));
  try {
    run(small.create(make_api_key({.owner = "a"}, fmt, hasher, clk.wall_now()).record));
    ADD_FAILURE();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), make_error_code(errc::store_unavailable));
  }
  EXPECT_EQ(small.size(), 1u);
  EXPECT_THROW(memory_api_key_store({.max_keys = 0}), config_error);
}

TEST(new_api_key, hostile_fields_are_refused_without_echo) {
  manual_clock clk;
  auto now = clk.wall_now();
  auto ok = [&](new_api_key s) { return check_new_api_key(s, now); };
  EXPECT_EQ(ok({.owner = "u1", .name = "Robert'); DROP TABLE keys;--"}), "");
  EXPECT_EQ(ok({.owner = "u1", .name = "caf\xC3\xA9 \xF0\x9F\x94\x91"}), "");
  EXPECT_NE(ok({.owner = "", .name = "x"}), "");
  EXPECT_NE(ok({.owner = "u1", .name = std::string(1 << 20, 'n')}), "");
  EXPECT_NE(ok({.owner = "u1", .name = "bad \xC3("}), "");
  EXPECT_NE(ok({.owner = "u1", .name = "overlong \xC0\xAF"}), "");
  EXPECT_NE(ok({.owner = "u1", .name = "surrogate \xED\xA0\x80"}), "");
  EXPECT_NE(ok({.owner = "u1", .name = "nul \0 byte"s}), "");
  EXPECT_NE(ok({.owner = "u1", .name = "newline\n"}), "");
  EXPECT_NE(ok({.owner = "u1", .tier = "Pro"}), "");
  EXPECT_NE(ok({.owner = "u1", .tier = "pro'--"}), "");
  EXPECT_NE(ok({.owner = "u1", .scopes = {"a b"}}), "");
  EXPECT_NE(ok({.owner = "u1", .scopes = {"a", "a"}}), "");
  EXPECT_NE(ok({.owner = "u1", .scopes = std::vector<std::string>(33, "s")}), "");
  EXPECT_NE(ok({.owner = "u1", .expires = now}), "");
  EXPECT_NE(ok({.owner = "u1", .max_uses = 0}), "");
  auto msg = ok({.owner = "u1", .name = "evil \x01<script>"});
  EXPECT_EQ(msg.find("script"), std::string::npos);
  api_key_format fmt;
  EXPECT_THROW(make_api_key({.owner = ""}, fmt, api_key_hasher{}, now), std::invalid_argument);
}

}  // namespace
}  // namespace portcullis
