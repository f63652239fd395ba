// The PostgreSQL API-key store and the api_key middleware against a real
// PostgreSQL: PORTCULLIS_PG_URL (scripts/test starts one), and for the
// stop-and-restart test a throw-away cluster of its own, run by an
// unprivileged user in a temporary folder.
#include "portcullis/postgres/api_key_store.hpp"

#include "support/run_awaitable.hpp"

#include "portcullis/api_key_auth.hpp"
#include "portcullis/errc.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <pqxx/pqxx>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace portcullis {
namespace {

using namespace std::chrono_literals;

using test::run;

std::error_code code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::system_error& e) {
    return e.code();
  }
  return {};
}

// PORTCULLIS_PG_URL, or a skip (a failure when services are required).
std::optional<std::string> pg_url() {
  if (const char* u = std::getenv("PORTCULLIS_PG_URL"); u && *u) return std::string(u);
  return std::nullopt;
}

#define REQUIRE_PG(url)                                                            \
  auto url##_opt = pg_url();                                                       \
  if (!url##_opt) {                                                                \
    if (std::getenv("PORTCULLIS_REQUIRE_SERVICES"))                                \
      FAIL() << "PORTCULLIS_PG_URL is not set but PORTCULLIS_REQUIRE_SERVICES is"; \
    GTEST_SKIP() << "PORTCULLIS_PG_URL is not set";                                \
  }                                                                                \
  const std::string url = *url##_opt

std::string unique(std::string_view stem) {
  return std::string(stem) + "-" + detail::random_base62(10);
}

class recording_sink final : public log_sink {
 public:
  void write(log_level level, std::string_view event, std::span<const log_field> f) override {
    std::lock_guard lock(m_);
    text_ += json_lines_sink::format(level, event, f);
    text_ += '\n';
  }
  std::string text() {
    std::lock_guard lock(m_);
    return text_;
  }

 private:
  std::mutex m_;
  std::string text_;
};

postgres_api_key_store_options store_options(const std::string& url, std::string name = "") {
  postgres_api_key_store_options o;
  o.url = url;
  o.connections = 2;
  o.statement_timeout = 1s;
  o.call_timeout = 2s;
  o.name = name.empty() ? unique("t") : name;
  o.log = logger(nullptr, log_level::off);
  return o;
}

const api_key_hasher pepper{{{.id = "it", .secret = std::string(48, 'p')}}};

issued_api_key issue(api_key_store& store, new_api_key spec) {
  auto k = make_api_key(spec, api_key_format{}, pepper, std::chrono::system_clock::now());
  run(store.create(k.record));
  return k;
}

TEST(postgres_api_key_store, lifecycle_round_trips_every_field) {
  REQUIRE_PG(url);
  postgres_api_key_store store(store_options(url));
  const auto owner = unique("alice");
  auto now = std::chrono::system_clock::now();
  auto k = issue(store, {.owner = owner,
                         .name = "ci deploy",
                         .tier = "pro",
                         .scopes = {"items:read", "items:write"},
                         .expires = now + 24h,
                         .max_uses = 5});

  auto r = run(store.find_by_hash(k.record.hash));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, k.record.id);
  EXPECT_EQ(r->owner, owner);
  EXPECT_EQ(r->name, "ci deploy");
  EXPECT_EQ(r->display, k.record.display);
  EXPECT_TRUE(digests_equal(r->hash, k.record.hash));
  EXPECT_EQ(r->hash_scheme, "hmac-sha256:it");
  EXPECT_EQ(r->tier, "pro");
  EXPECT_EQ(r->scopes, (std::vector<std::string>{"items:read", "items:write"}));
  EXPECT_EQ(r->created, k.record.created);
  EXPECT_EQ(r->expires, k.record.expires);
  EXPECT_EQ(r->max_uses, 5u);
  EXPECT_EQ(r->uses, 0u);
  EXPECT_FALSE(r->last_used);
  EXPECT_FALSE(r->revoked);
  EXPECT_FALSE(run(store.find_by_hash(pepper.digest(k.key + "x"))));

  // The table holds the digest, never the key.
  pqxx::connection c(url);
  pqxx::work w(c);
  auto row = w.exec_params(
      "SELECT encode(hash, 'hex'), display FROM portcullis_api_keys "
      "WHERE id = $1",
      k.record.id)[0];
  EXPECT_EQ(row[0].as<std::string>(), to_hex(pepper.digest(k.key)));
  EXPECT_EQ(row[1].as<std::string>().find(k.key.substr(8, 30)), std::string::npos);
  w.commit();

  // Uses: batched touches and atomic consumption.
  auto t1 = std::chrono::floor<std::chrono::microseconds>(now + 1s);
  std::vector<api_key_use> batch{{k.record.id, t1, 2}, {"key_none", t1, 7}};
  run(store.touch(batch));
  EXPECT_TRUE(run(store.consume_use(k.record.id, t1 - 1s)));
  r = run(store.find_by_hash(k.record.hash));
  EXPECT_EQ(r->uses, 3u);
  EXPECT_EQ(r->last_used, t1);  // never moves back
  EXPECT_TRUE(run(store.consume_use(k.record.id, t1)));
  EXPECT_TRUE(run(store.consume_use(k.record.id, t1)));
  EXPECT_FALSE(run(store.consume_use(k.record.id, t1)));

  // Listing and revoking.
  auto second = issue(store, {.owner = owner, .name = "second"});
  auto list = run(store.list(owner));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, second.record.id);
  EXPECT_EQ(run(store.list(owner, 1)).size(), 1u);
  EXPECT_TRUE(run(store.revoke(owner, k.record.id, now)));
  EXPECT_TRUE(run(store.find_by_hash(k.record.hash))->revoked);
  EXPECT_FALSE(run(store.revoke(owner, k.record.id, now)));
  EXPECT_FALSE(run(store.consume_use(k.record.id, t1)));

  // Migrations ran once and are recorded; running them again is a no-op.
  store.migrate();
  pqxx::work w2(c);
  EXPECT_EQ(w2.exec("SELECT count(*) FROM portcullis_schema_migrations "
                    "WHERE component = 'api_keys'")[0][0]
                .as<int>(),
            static_cast<int>(postgres_api_key_migrations().size()));
}

TEST(postgres_api_key_store, only_the_owner_can_revoke) {
  REQUIRE_PG(url);
  postgres_api_key_store store(store_options(url));
  const auto alice = unique("alice"), mallory = unique("mallory");
  auto k = issue(store, {.owner = alice});
  EXPECT_FALSE(run(store.revoke(mallory, k.record.id, std::chrono::system_clock::now())));
  EXPECT_FALSE(
      run(store.revoke(alice + "' OR '1'='1", k.record.id, std::chrono::system_clock::now())));
  EXPECT_FALSE(
      run(store.revoke(alice, k.record.id + "' OR '1'='1", std::chrono::system_clock::now())));
  EXPECT_FALSE(run(store.find_by_hash(k.record.hash))->revoked);
  EXPECT_TRUE(run(store.list(mallory)).empty());
  EXPECT_TRUE(run(store.revoke(alice, k.record.id, std::chrono::system_clock::now())));
}

TEST(postgres_api_key_store, hostile_input_is_data_or_refused_never_sql) {
  REQUIRE_PG(url);
  postgres_api_key_store store(store_options(url));
  const auto owner = unique("o'; DROP TABLE portcullis_api_keys;--");
  auto now = std::chrono::system_clock::now();

  // SQL metacharacters in every text field are stored as written.
  auto k = make_api_key(
      {.owner = owner, .name = "Robert'); DELETE FROM portcullis_api_keys;-- \\ \" $1 %s"},
      api_key_format{}, pepper, now);
  // Scopes this odd are refused by validation; the store must still keep
  // them as data (its array literal is escaped).
  k.record.scopes = {"a'b", "c\"d", "e\\f", "{g,h}"};
  run(store.create(k.record));
  auto r = run(store.find_by_hash(k.record.hash));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->owner, owner);
  EXPECT_EQ(r->name, "Robert'); DELETE FROM portcullis_api_keys;-- \\ \" $1 %s");
  EXPECT_EQ(r->scopes, (std::vector<std::string>{"a'b", "c\"d", "e\\f", "{g,h}"}));
  ASSERT_EQ(run(store.list(owner)).size(), 1u);

  // A 1 MB name is refused by validation; sent straight to the store it is
  // kept whole (parameters are not truncated), not an error.
  new_api_key big{.owner = owner, .name = std::string(1 << 20, 'n')};
  EXPECT_NE(check_new_api_key(big, now), "");
  auto raw = make_api_key({.owner = owner}, api_key_format{}, pepper, now);
  raw.record.name = std::string(1 << 20, 'n');
  run(store.create(raw.record));
  EXPECT_EQ(run(store.find_by_hash(raw.record.hash))->name.size(), std::size_t(1) << 20);

  // Invalid UTF-8: refused by validation; straight to the store, refused by
  // PostgreSQL with an error that carries no input, and the store lives on.
  EXPECT_NE(check_new_api_key({.owner = owner, .name = "bad \xC3\x28"}, now), "");
  auto bad = make_api_key({.owner = owner}, api_key_format{}, pepper, now);
  bad.record.name = "bad \xC3\x28 \xFF";
  try {
    run(store.create(bad.record));
    ADD_FAILURE() << "invalid UTF-8 was stored";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), make_error_code(errc::store_protocol));
    EXPECT_EQ(std::string(e.what()).find("bad"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(run(store.revoke(owner, "key_\xFF\xFE", now)));
  EXPECT_TRUE(run(store.list("\xC0\xAF")).empty());

  // A NUL would cut a parameter short: refused before reaching libpq.
  auto nul = make_api_key({.owner = owner}, api_key_format{}, pepper, now);
  nul.record.owner = owner + std::string("\0x", 2);
  EXPECT_EQ(code_of([&] { run(store.create(nul.record)); }), make_error_code(errc::store_protocol));
  EXPECT_FALSE(run(store.revoke(owner + std::string("\0", 1), k.record.id, now)));
  EXPECT_FALSE(run(store.find_by_hash(k.record.hash))->revoked);

  // The table is still there and still answers.
  EXPECT_TRUE(run(store.find_by_hash(k.record.hash)));
}

TEST(postgres_api_key_store, expiry_and_scopes_through_the_middleware) {
  REQUIRE_PG(url);
  auto store = std::make_shared<postgres_api_key_store>(store_options(url));
  const auto owner = unique("alice");
  auto now = std::chrono::system_clock::now();
  auto soon = issue(*store, {.owner = owner, .scopes = {"items:read"}, .expires = now + 1500ms});
  auto later = issue(*store, {.owner = owner, .scopes = {"items:read"}, .expires = now + 1h});

  api_key_auth auth({.store = store, .hasher = pepper});
  EXPECT_EQ(run(auth.verify(soon.key)).status, api_key_status::valid);
  EXPECT_EQ(run(auth.verify(later.key)).status, api_key_status::valid);
  std::this_thread::sleep_for(1600ms);
  // Expiry is judged at each use, also from the cache.
  EXPECT_EQ(run(auth.verify(soon.key)).status, api_key_status::expired);
  EXPECT_EQ(run(auth.verify(later.key)).status, api_key_status::valid);
  auto who = run(auth.verify(later.key)).who;
  ASSERT_TRUE(who);
  EXPECT_EQ(who->scopes, std::vector<std::string>{"items:read"});
  EXPECT_EQ(who->owner, owner);
}

TEST(postgres_api_key_store, revocation_reaches_another_instance_within_a_second) {
  REQUIRE_PG(url);
  auto a = std::make_shared<postgres_api_key_store>(store_options(url));
  auto b = std::make_shared<postgres_api_key_store>(store_options(url));
  api_key_auth here({.store = a, .hasher = pepper, .cache_ttl = 10min, .miss_ttl = 1min});
  api_key_auth there({.store = b, .hasher = pepper, .cache_ttl = 10min, .miss_ttl = 1min});
  for (int i = 0; i < 50 && !(a->listening() && b->listening()); ++i)
    std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(b->listening());

  const auto owner = unique("alice");
  auto k = issue(*a, {.owner = owner});
  EXPECT_EQ(run(here.verify(k.key)).status, api_key_status::valid);
  EXPECT_EQ(run(there.verify(k.key)).status, api_key_status::valid);
  ASSERT_TRUE(there.verify_cached(k.key));

  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(run(here.revoke(owner, k.record.id)));
  // At once where it was revoked ...
  EXPECT_FALSE(here.verify_cached(k.key));
  // ... and within a second on the other instance (its TTL is 10 min).
  while (there.verify_cached(k.key) && std::chrono::steady_clock::now() - t0 < 2s)
    std::this_thread::sleep_for(5ms);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 1s);
  EXPECT_EQ(run(there.verify(k.key)).status, api_key_status::revoked);

  // An administrator's SQL reaches the caches too (the trigger notifies).
  auto k2 = issue(*a, {.owner = owner, .scopes = {"x"}});
  EXPECT_EQ(run(there.verify(k2.key)).status, api_key_status::valid);
  {
    pqxx::connection c(url);
    pqxx::work w(c);
    w.exec_params("UPDATE portcullis_api_keys SET scopes = '{}' WHERE id = $1", k2.record.id);
    w.commit();
  }
  t0 = std::chrono::steady_clock::now();
  while (there.verify_cached(k2.key) && std::chrono::steady_clock::now() - t0 < 2s)
    std::this_thread::sleep_for(5ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  auto who = run(there.verify(k2.key)).who;
  ASSERT_TRUE(who);
  EXPECT_TRUE(who->scopes.empty());
  EXPECT_GE(b->counters().value("notifications"), 2u);
}

// The other instance is another process: forked before this one starts any
// thread, it opens its own store, caches the key, and reports when the
// revocation has reached its cache.
TEST(postgres_api_key_store, revocation_reaches_another_process_within_a_second) {
  REQUIRE_PG(url);
  int to_child[2], to_parent[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(to_parent), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child: no gtest here, only exit codes and one byte per step.
    ::close(to_child[1]);
    ::close(to_parent[0]);
    char key[256] = {};
    if (::read(to_child[0], key, sizeof key - 1) <= 0) ::_exit(2);
    int rc = 0;
    {
      auto store = std::make_shared<postgres_api_key_store>(store_options(url));
      api_key_auth auth({.store = store, .hasher = pepper, .cache_ttl = 10min});
      for (int i = 0; i < 100 && !store->listening(); ++i) std::this_thread::sleep_for(10ms);
      if (run(auth.verify(key)).status != api_key_status::valid) ::_exit(3);
      if (::write(to_parent[1], "r", 1) != 1) ::_exit(4);
      auto t0 = std::chrono::steady_clock::now();
      while (auth.verify_cached(key) && std::chrono::steady_clock::now() - t0 < 5s)
        std::this_thread::sleep_for(2ms);
      rc = run(auth.verify(key)).status == api_key_status::revoked ? 0 : 5;
      if (::write(to_parent[1], "d", 1) != 1) rc = 4;
    }
    ::_exit(rc);
  }
  ::close(to_child[0]);
  ::close(to_parent[1]);

  postgres_api_key_store store(store_options(url));
  const auto owner = unique("alice");
  auto k = issue(store, {.owner = owner});
  ASSERT_EQ(::write(to_child[1], k.key.data(), k.key.size()), static_cast<ssize_t>(k.key.size()));
  ::close(to_child[1]);
  char step = 0;
  ASSERT_EQ(::read(to_parent[0], &step, 1), 1);
  ASSERT_EQ(step, 'r');

  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(run(store.revoke(owner, k.record.id, std::chrono::system_clock::now())));
  ASSERT_EQ(::read(to_parent[0], &step, 1), 1);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(step, 'd');
  EXPECT_LT(took, 1s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms";
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the other process saw the key as not revoked";
  ::close(to_parent[0]);
}

TEST(postgres_api_key_store, statement_timeout_is_told_apart_from_a_broken_connection) {
  REQUIRE_PG(url);
  auto o = store_options(url, unique("timeouts"));
  o.connections = 1;
  o.statement_timeout = 100ms;
  o.call_timeout = 1s;
  postgres_api_key_store store(o);
  const auto owner = unique("alice");
  auto k = issue(store, {.owner = owner});

  // Another session holds a lock that makes the lookup wait past 100 ms.
  {
    pqxx::connection c(url);
    pqxx::work w(c);
    w.exec("SET lock_timeout = '2s'");
    w.exec("LOCK TABLE portcullis_api_keys IN ACCESS EXCLUSIVE MODE");
    EXPECT_EQ(code_of([&] { run(store.find_by_hash(k.record.hash)); }),
              make_error_code(errc::store_timeout));
    w.abort();
  }
  EXPECT_EQ(store.counters().value("statement_timeouts"), 1u);
  EXPECT_EQ(store.counters().value("broken_connections"), 0u);
  EXPECT_EQ(store.counters().value("connects"), 1u);
  // The same connection serves the next call.
  EXPECT_TRUE(run(store.find_by_hash(k.record.hash)));
  EXPECT_EQ(store.counters().value("connects"), 1u);

  // Its connection is killed: the read is retried on a new one.
  {
    pqxx::connection c(url);
    pqxx::work w(c);
    auto n = w.exec_params(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = $1",
        "portcullis:" + o.name);
    w.commit();
    ASSERT_EQ(n[0][0].as<int>(), 1);
  }
  EXPECT_TRUE(run(store.find_by_hash(k.record.hash)));
  EXPECT_EQ(store.counters().value("broken_connections"), 1u);
  EXPECT_EQ(store.counters().value("connects"), 2u);
}

// -- A cluster of our own, stopped and started under load ------------------------

// initdb/pg_ctl as an unprivileged user in a temporary folder: PostgreSQL
// refuses to run as root, and the system's own service is never touched.
class throwaway_cluster {
 public:
  throwaway_cluster() {
    bin_ = std::getenv("PORTCULLIS_PG_BIN") ? std::getenv("PORTCULLIS_PG_BIN")
                                            : "/usr/lib/postgresql/15/bin";
    if (geteuid() == 0) {
      user_ = std::getenv("PORTCULLIS_PG_USER") ? std::getenv("PORTCULLIS_PG_USER") : "postgres";
      if (std::system(("id -u " + user_ + " >/dev/null 2>&1").c_str()) != 0) user_ = "nobody";
    }
    char tmpl[] = "/tmp/portcullis-pg-restart.XXXXXX";
    if (!mkdtemp(tmpl)) return;
    dir_ = tmpl;
    std::filesystem::permissions(dir_, std::filesystem::perms::all);
    port_ = free_port();
    ok_ = sh(as_user(bin_ + "/initdb -D " + dir_ + "/data -U portcullis -A trust --no-sync")) &&
          start() &&
          sh(bin_ + "/createdb -h 127.0.0.1 -p " + std::to_string(port_) +
             " -U portcullis portcullis");
  }
  ~throwaway_cluster() {
    if (!dir_.empty()) {
      sh(as_user(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate stop"));
      std::filesystem::remove_all(dir_);
    }
  }

  bool ok() const { return ok_; }
  std::string url() const {
    return "postgresql://portcullis@127.0.0.1:" + std::to_string(port_) + "/portcullis";
  }
  bool start() {
    return sh(as_user(bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/log -w -o \"-h " +
                      "127.0.0.1 -p " + std::to_string(port_) + " -k " + dir_ +
                      " -c fsync=off\" start"));
  }
  bool stop() { return sh(as_user(bin_ + "/pg_ctl -D " + dir_ + "/data -m fast -w stop")); }

 private:
  static int free_port() {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
  }
  std::string as_user(const std::string& cmd) const {
    return user_.empty() ? cmd : "runuser -u " + user_ + " -- " + cmd;
  }
  static bool sh(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
  }

  std::string bin_, user_, dir_;
  int port_ = 0;
  bool ok_ = false;
};

TEST(postgres_api_key_store, survives_postgres_stopping_and_restarting_under_load) {
  REQUIRE_PG(url);  // services are expected: so are PostgreSQL's binaries
  throwaway_cluster pg;
  ASSERT_TRUE(pg.ok()) << "could not start a throw-away PostgreSQL cluster";

  auto sink = std::make_shared<recording_sink>();
  auto o = store_options(pg.url());
  o.log = logger(sink, log_level::debug);
  o.statement_timeout = 500ms;
  o.call_timeout = 1s;
  o.connect_timeout = 1s;
  auto store = std::make_shared<postgres_api_key_store>(o);
  api_key_auth auth({.store = store,
                     .hasher = pepper,
                     .cache_ttl = 1h,
                     .miss_ttl = 1ms,
                     .touch_interval = 100ms,
                     .store_timeout = 1500ms,
                     .log = logger(sink, log_level::debug)});
  // The same store with the cache off: every verification needs PostgreSQL.
  api_key_auth uncached({.store = store,
                         .hasher = pepper,
                         .cache_size = 0,
                         .store_timeout = 1500ms,
                         .log = logger(sink, log_level::debug)});

  std::vector<issued_api_key> keys;
  for (int i = 0; i < 6; ++i) keys.push_back(issue(*store, {.owner = unique("u")}));
  // Half are cached before the outage; the other half are checked without
  // a cache.
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(run(auth.verify(keys[i].key)).status, api_key_status::valid);

  // Load: four threads verify all six keys without pause and note the
  // slowest answer and what they saw.
  std::atomic<bool> stop{false};
  std::atomic<int> cached_refused{0}, fresh_valid{0}, fresh_unavailable{0};
  std::atomic<std::int64_t> slowest_us{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t)
    load.emplace_back([&, t] {
      for (int i = t; !stop; ++i) {
        auto& k = keys[i % keys.size()];
        auto t0 = std::chrono::steady_clock::now();
        const bool cached = (i % keys.size()) < 3;
        auto v = run((cached ? auth : uncached).verify(k.key));
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
        for (auto s = slowest_us.load(); us > s && !slowest_us.compare_exchange_weak(s, us);) {
        }
        if (cached && v.status != api_key_status::valid) ++cached_refused;
        if (!cached && v.status == api_key_status::valid) ++fresh_valid;
        if (!cached && v.status == api_key_status::unavailable) ++fresh_unavailable;
      }
    });

  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(pg.stop());
  std::this_thread::sleep_for(1500ms);
  const int unavailable_while_down = fresh_unavailable.load();
  const int valid_before_restart = fresh_valid.load();
  ASSERT_TRUE(pg.start());

  // After the restart, keys never cached verify again within a few seconds
  // (stale connections are replaced), and the listener is back.
  auto t0 = std::chrono::steady_clock::now();
  while (fresh_valid.load() == valid_before_restart && std::chrono::steady_clock::now() - t0 < 10s)
    std::this_thread::sleep_for(20ms);
  auto recovered_in = std::chrono::steady_clock::now() - t0;
  while (!store->listening() && std::chrono::steady_clock::now() - t0 < 10s)
    std::this_thread::sleep_for(20ms);
  stop = true;
  for (auto& th : load) th.join();

  EXPECT_EQ(cached_refused.load(), 0) << "cached keys must keep working (serve_cached)";
  EXPECT_GT(unavailable_while_down, 0) << "keys not cached must get 'unavailable'";
  EXPECT_LT(recovered_in, 10s);
  EXPECT_TRUE(store->listening());
  EXPECT_GE(store->counters().value("listener_losses"), 1u);
  EXPECT_GE(store->counters().value("broken_connections"), 1u);
  // Nothing hung: no answer took longer than the call timeout allows.
  EXPECT_LT(slowest_us.load(), 3'000'000);
  EXPECT_GE(auth.counters()->value("store_errors"), 1u);

  // Uses gathered during the outage reach the table once it is back.
  run(auth.flush());
  auto r = run(store->find_by_hash(keys[0].record.hash));
  ASSERT_TRUE(r);
  EXPECT_GT(r->uses, 0u);

  // Warnings were logged, and no key is in them.
  auto text = sink->text();
  EXPECT_NE(text.find("api_key.store_error"), std::string::npos);
  for (const auto& k : keys)
    for (std::size_t i = 8; i + 12 <= k.key.size(); i += 6)
      EXPECT_EQ(text.find(k.key.substr(i, 12)), std::string::npos);
}

}  // namespace
}  // namespace portcullis
