#include "portcullis/postgres/api_key_store.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/detail/await_result.hpp"
#include "portcullis/detail/block_sigpipe.hpp"
#include "portcullis/errc.hpp"

#include <pqxx/pqxx>

#include <boost/asio/this_coro.hpp>

#include <pthread.h>
#include <signal.h>

#include <cctype>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace portcullis {

// -- The schema ---------------------------------------------------------------

namespace {

constexpr std::string_view migration_1 = R"sql(
CREATE TABLE portcullis_api_keys (
  id           text PRIMARY KEY,
  owner        text NOT NULL,
  name         text NOT NULL DEFAULT '',
  display      text NOT NULL,
  hash         bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
  hash_scheme  text NOT NULL,
  tier         text NOT NULL,
  scopes       text[] NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz,
  last_used_at timestamptz,
  revoked_at   timestamptz,
  max_uses     bigint CHECK (max_uses IS NULL OR max_uses > 0),
  uses         bigint NOT NULL DEFAULT 0
);
CREATE INDEX portcullis_api_keys_owner ON portcullis_api_keys (owner, created_at DESC);

-- Tells every instance to drop a key from its cache when anything that
-- decides what the key may do changes, whoever changes it.
CREATE FUNCTION portcullis_api_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('portcullis_api_key_revoked', encode(OLD.hash, 'hex'));
    RETURN OLD;
  END IF;
  IF NEW.revoked_at IS DISTINCT FROM OLD.revoked_at
     OR NEW.expires_at IS DISTINCT FROM OLD.expires_at
     OR NEW.scopes IS DISTINCT FROM OLD.scopes
     OR NEW.tier IS DISTINCT FROM OLD.tier
     OR NEW.max_uses IS DISTINCT FROM OLD.max_uses
     OR NEW.owner IS DISTINCT FROM OLD.owner
     OR NEW.hash IS DISTINCT FROM OLD.hash THEN
    PERFORM pg_notify('portcullis_api_key_revoked', encode(OLD.hash, 'hex'));
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER portcullis_api_keys_changed
  AFTER UPDATE OR DELETE ON portcullis_api_keys
  FOR EACH ROW EXECUTE FUNCTION portcullis_api_keys_notify();
)sql";

constexpr postgres_migration migrations[] = {
    {1, "api keys: table, owner index, change notifications", migration_1},
};

// The advisory lock that serialises migrations of concurrent instances.
constexpr long long migration_lock = 0x706f7274'6b657973;  // "portkeys"

// Every statement the store runs, prepared once per connection. Each call
// is one statement, run in autocommit (a nontransaction): one round trip,
// where BEGIN ... COMMIT would take three; a single statement is atomic on
// its own, and the trigger's NOTIFY is sent when it commits. Times
// travel as microseconds since the Unix epoch, so that no time zone or
// text format is involved.
#define PC_US(col) "(extract(epoch from " col ") * 1000000)::bigint"
#define PC_TS(param) "(timestamptz 'epoch' + " param "::bigint * interval '1 microsecond')"
#define PC_COLUMNS                                                                          \
  "id, owner, name, display, encode(hash, 'hex'), hash_scheme, tier, "                      \
  "array_to_string(scopes, ' '), " PC_US("created_at") ", " PC_US("expires_at") ", " PC_US( \
      "last_used_at") ", " PC_US("revoked_at") ", max_uses, uses"

const std::pair<const char*, const char*> statements[] = {
    {"pc_create",
     "INSERT INTO portcullis_api_keys (id, owner, name, display, hash, hash_scheme, tier, "
     "scopes, created_at, expires_at, max_uses) VALUES ($1, $2, $3, $4, decode($5, 'hex'), "
     "$6, $7, $8::text[], " PC_TS("$9") ", " PC_TS("$10") ", $11::bigint)"},
    {"pc_find", "SELECT " PC_COLUMNS " FROM portcullis_api_keys WHERE hash = decode($1, 'hex')"},
    {"pc_touch",
     "UPDATE portcullis_api_keys AS k SET uses = k.uses + v.n, "
     "last_used_at = GREATEST(k.last_used_at, " PC_TS(
         "v.lu") ") "
                 "FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(id, lu, n) WHERE k.id = "
                 "v.id"},
    {"pc_consume",
     "UPDATE portcullis_api_keys SET uses = uses + 1, "
     "last_used_at = GREATEST(last_used_at, " PC_TS(
         "$2") ") "
               "WHERE id = $1 AND revoked_at IS NULL AND (max_uses IS NULL OR uses < max_uses) "
               "RETURNING uses"},
    {"pc_revoke",
     "UPDATE portcullis_api_keys SET revoked_at = " PC_TS(
         "$3") " "
               "WHERE id = $1 AND owner = $2 AND revoked_at IS NULL RETURNING encode(hash, 'hex')"},
    {"pc_list", "SELECT " PC_COLUMNS " FROM portcullis_api_keys WHERE owner = $1 "
                "ORDER BY created_at DESC, id DESC LIMIT $2::bigint"},
};

#undef PC_COLUMNS
#undef PC_TS
#undef PC_US

enum counter : std::size_t {
  c_calls,
  c_timeouts,
  c_statement_timeouts,
  c_broken,
  c_connects,
  c_rejected,
  c_notifications,
  c_listener_losses,
};

std::int64_t to_us(wall_time t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

wall_time from_us(std::int64_t us) {
  return wall_time{std::chrono::duration_cast<wall_time::duration>(std::chrono::microseconds(us))};
}

// A PostgreSQL array literal of text values: {"a","b\"c"}.
std::string text_array(std::span<const std::string> values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

template <typename T>
std::string number_array(std::span<const T> values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

// libpq passes parameters as C strings: a NUL would cut a value short, so
// a value holding one never reaches the database.
bool has_nul(std::string_view s) noexcept {
  return s.find('\0') != std::string_view::npos;
}

api_key_record read_record(const pqxx::row& row) {
  api_key_record r;
  r.id = row[0].as<std::string>();
  r.owner = row[1].as<std::string>();
  r.name = row[2].as<std::string>();
  r.display = row[3].as<std::string>();
  if (!from_hex(row[4].as<std::string>(), r.hash))
    throw std::system_error(make_error_code(errc::store_protocol), "postgres: bad digest");
  r.hash_scheme = row[5].as<std::string>();
  r.tier = row[6].as<std::string>();
  std::string scopes = row[7].as<std::string>();
  for (std::size_t pos = 0; pos < scopes.size();) {
    auto end = scopes.find(' ', pos);
    if (end == std::string::npos) end = scopes.size();
    if (end > pos) r.scopes.push_back(scopes.substr(pos, end - pos));
    pos = end + 1;
  }
  r.created = from_us(row[8].as<std::int64_t>());
  if (!row[9].is_null()) r.expires = from_us(row[9].as<std::int64_t>());
  if (!row[10].is_null()) r.last_used = from_us(row[10].as<std::int64_t>());
  if (!row[11].is_null()) r.revoked = from_us(row[11].as<std::int64_t>());
  if (!row[12].is_null()) r.max_uses = row[12].as<std::uint64_t>();
  r.uses = row[13].as<std::uint64_t>();
  return r;
}

// libpqxx 6.4 silently reopens a broken connection when it is used again.
// The store wants to know: a worker replaces it on purpose (and counts it),
// and the listener must learn that notifications may have been missed.
void no_reactivation(pqxx::connection& c) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  c.inhibit_reactivation(true);
#pragma GCC diagnostic pop
}

std::string with_connect_timeout(std::string url, std::chrono::seconds t) {
  if (url.find("connect_timeout") != std::string::npos) return url;
  const auto value = std::to_string(t.count());
  if (url.starts_with("postgresql://") || url.starts_with("postgres://"))
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=" + value;
  return url + " connect_timeout=" + value;
}

}  // namespace

std::span<const postgres_migration> postgres_api_key_migrations() noexcept {
  return migrations;
}

// -- The pool -------------------------------------------------------------------

struct postgres_api_key_store::impl {
  // A connection and whether its statements are prepared.
  struct worker {
    std::unique_ptr<pqxx::connection> conn;
  };
  using job = std::function<void(worker&)>;

  explicit impl(postgres_api_key_store_options o)
      : opt(std::move(o)),
        conninfo(with_connect_timeout(opt.url, opt.connect_timeout)),
        counters("postgres_api_key_store", opt.name,
                 {"calls", "timeouts", "statement_timeouts", "broken_connections", "connects",
                  "rejected", "notifications", "listener_losses"}) {}

  // Opens a connection with the session settings and prepared statements.
  std::unique_ptr<pqxx::connection> connect() {
    counters.add(c_connects);
    auto c = std::make_unique<pqxx::connection>(conninfo);
    no_reactivation(*c);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(opt.statement_timeout).count();
    pqxx::nontransaction n(*c);
    n.exec("SET statement_timeout = " + std::to_string(ms));
    // Named after the instance, so that an operator can tell the pools apart
    // in pg_stat_activity. Only [A-Za-z0-9_.-] of the name is used.
    n.exec("SET application_name = " + n.quote(application_name()));
    n.commit();
    for (const auto& [name, sql] : statements) c->prepare(name, sql);
    return c;
  }

  // Runs `fn` on the worker's connection, mapping libpqxx's errors onto
  // errc. A read meets a broken connection twice at most: a pool whose
  // server restarted holds stale connections, and each would otherwise
  // fail one call.
  template <typename F>
  auto run(worker& w, bool read_only, F& fn) -> decltype(fn(*w.conn)) {
    for (int attempt = 0;; ++attempt) {
      try {
        if (!w.conn) w.conn = connect();
        return fn(*w.conn);
      } catch (const pqxx::broken_connection&) {
        counters.add(c_broken);
        w.conn.reset();
        warn("postgres.connection_lost", "the connection broke or could not be opened");
        if (read_only && attempt == 0) continue;
        throw std::system_error(make_error_code(errc::store_unavailable),
                                "postgres: connection lost");
      } catch (const pqxx::in_doubt_error&) {
        counters.add(c_broken);
        w.conn.reset();
        throw std::system_error(make_error_code(errc::store_unavailable),
                                "postgres: connection lost during commit");
      } catch (const pqxx::sql_error& e) {
        const std::string state = e.sqlstate();
        // 57014: statement_timeout cancelled it; the connection is fine.
        if (state == "57014") {
          counters.add(c_statement_timeouts);
          throw std::system_error(make_error_code(errc::store_timeout),
                                  "postgres: statement timeout (57014)");
        }
        // Class 08 and 57P0x: the connection or the server is going away.
        if (state.starts_with("08") || state.starts_with("57P")) {
          counters.add(c_broken);
          w.conn.reset();
          if (read_only && attempt == 0) continue;
          throw std::system_error(make_error_code(errc::store_unavailable),
                                  "postgres: server unavailable (" + state + ")");
        }
        if (state == "23505")
          throw std::system_error(make_error_code(errc::store_protocol),
                                  "postgres: duplicate key id or digest (23505)");
        // PostgreSQL's message may quote the values it refused: only the
        // SQLSTATE leaves this function.
        throw std::system_error(make_error_code(errc::store_protocol),
                                "postgres: statement failed (" + state + ")");
      } catch (const std::system_error&) {
        throw;
      } catch (const std::exception&) {
        // A failed connection attempt can surface as pqxx::failure.
        w.conn.reset();
        counters.add(c_broken);
        if (read_only && attempt == 0) continue;
        throw std::system_error(make_error_code(errc::store_unavailable), "postgres: failure");
      }
    }
  }

  std::string application_name() const {
    std::string out = "portcullis:";
    for (char ch : opt.name)
      if (detail::is_ascii_alnum(ch) || ch == '_' || ch == '.' || ch == '-') out += ch;
    return out.substr(0, 63);
  }

  void warn(std::string_view event, std::string_view what) {
    std::uint64_t suppressed = 0;
    if (opt.log.enabled(log_level::warning) && warning.allow(system_clock(), suppressed))
      opt.log.log(log_level::warning, event,
                  {{"name", opt.name}, {"error", what}, {"suppressed", suppressed}});
  }

  // Queues `fn` for a worker and waits for its result on the caller's
  // executor, at most call_timeout.
  template <typename T, typename F>
  asio::awaitable<T> call(bool read_only, F fn) {
    counters.add(c_calls);
    auto ex = co_await asio::this_coro::executor;
    auto p = std::make_shared<detail::pending_result<T>>(ex);
    {
      std::lock_guard lock(mutex);
      if (stopping || queue.size() >= opt.max_queue) {
        counters.add(c_rejected);
        throw std::system_error(make_error_code(errc::store_unavailable),
                                stopping ? "postgres: store stopped" : "postgres: queue full");
      }
      queue.emplace_back([this, p, read_only, fn = std::move(fn)](worker& w) mutable {
        using result = detail::pending_result<T>;
        // A caller that gave up does not get its statement run late.
        if (p->abandoned()) {
          result::fail(std::move(p), std::system_error(make_error_code(errc::store_timeout)));
          return;
        }
        try {
          if constexpr (std::is_same_v<T, detail::no_value>) {
            run(w, read_only, fn);
            result::deliver(std::move(p), {});
          } else {
            auto value = run(w, read_only, fn);
            result::deliver(std::move(p), std::move(value));
          }
        } catch (const std::system_error& e) {  // every error run() lets out
          result::fail(std::move(p), e);
        } catch (...) {
          result::fail(std::move(p), std::current_exception());
        }
      });
    }
    cv.notify_one();
    try {
      co_return co_await p->wait(opt.call_timeout);
    } catch (const std::system_error& e) {
      if (e.code() == make_error_code(errc::store_timeout) && p->abandoned())
        counters.add(c_timeouts);
      throw;
    }
  }

  void work() {
    detail::block_sigpipe();
    worker w;
    while (true) {
      job j;
      {
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;
        j = std::move(queue.front());
        queue.pop_front();
      }
      j(w);
    }
  }

  // Holds a connection with LISTEN and turns notifications into cache
  // invalidations. After a lost connection, everything is invalidated.
  void listen() {
    detail::block_sigpipe();
    struct receiver final : pqxx::notification_receiver {
      receiver(pqxx::connection& c, impl& self)
          : pqxx::notification_receiver(c, std::string(postgres_api_key_channel)), self(self) {}
      void operator()(const std::string& payload, int) override {
        self.counters.add(c_notifications);
        api_key_digest d;
        if (from_hex(payload, d))
          self.publish(&d);
        else
          self.publish(nullptr);  // not ours to parse: be safe
      }
      impl& self;
    };

    bool lost = false;
    auto backoff = std::chrono::milliseconds(100);
    while (!stopping_listener.load()) {
      try {
        pqxx::connection c(conninfo);
        no_reactivation(c);
        receiver r(c, *this);
        listening.store(true);
        if (lost) publish(nullptr);
        lost = false;
        backoff = std::chrono::milliseconds(100);
        while (!stopping_listener.load()) c.await_notification(0, 200'000);
      } catch (const std::exception&) {
        if (listening.exchange(false) || !lost) {
          counters.add(c_listener_losses);
          warn("postgres.listener_lost", "the LISTEN connection broke; reconnecting");
        }
        lost = true;
      }
      listening.store(false);
      // Waits before reconnecting, waking early to stop.
      std::unique_lock lock(mutex);
      cv_listener.wait_for(lock, backoff, [&] { return stopping_listener.load(); });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }

  void migrate() {
    detail::block_sigpipe();
    try {
      pqxx::connection c(conninfo);
      pqxx::work w(c);
      w.exec("SELECT pg_advisory_xact_lock(" + std::to_string(migration_lock) + ")");
      w.exec(
          "CREATE TABLE IF NOT EXISTS portcullis_schema_migrations ("
          "component text NOT NULL, version int NOT NULL, description text NOT NULL, "
          "applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))");
      auto r = w.exec(
          "SELECT coalesce(max(version), 0) FROM portcullis_schema_migrations "
          "WHERE component = 'api_keys'");
      const int current = r[0][0].as<int>();
      for (const auto& m : migrations) {
        if (m.version <= current) continue;
        w.exec(std::string(m.sql));
        w.exec_params(
            "INSERT INTO portcullis_schema_migrations (component, version, description) "
            "VALUES ('api_keys', $1, $2)",
            m.version, std::string(m.description));
      }
      w.commit();
    } catch (const pqxx::broken_connection&) {
      throw std::system_error(make_error_code(errc::store_unavailable),
                              "postgres_api_key_store: cannot connect to apply migrations");
    } catch (const pqxx::sql_error& e) {
      throw std::system_error(
          make_error_code(errc::store_protocol),
          "postgres_api_key_store: migration failed (" + e.sqlstate() + "): " + e.what());
    }
  }

  postgres_api_key_store_options opt;
  std::string conninfo;
  counter_set counters;
  std::function<void(const api_key_digest*)> publish;

  std::mutex mutex;
  std::condition_variable cv;
  std::condition_variable cv_listener;
  std::deque<job> queue;
  bool stopping = false;
  std::atomic<bool> stopping_listener{false};
  std::atomic<bool> listening{false};
  std::vector<std::thread> threads;
  std::thread listener;
  log_throttle warning{std::chrono::seconds(10)};
};

// -- The store --------------------------------------------------------------------

postgres_api_key_store::postgres_api_key_store(postgres_api_key_store_options options) {
  using namespace std::chrono;
  auto& o = options;
  if (o.url.empty())
    throw config_error(
        "postgres_api_key_store: url is empty; pass a libpq URL such as "
        "\"postgresql://user@host/db\"");
  if (o.connections < 1 || o.connections > 64)
    throw config_error("postgres_api_key_store: connections must be 1..64");
  if (o.max_queue < 1 || o.max_queue > 100'000)
    throw config_error("postgres_api_key_store: max_queue must be 1..100000");
  if (o.statement_timeout < milliseconds(1) || o.statement_timeout > minutes(1))
    throw config_error("postgres_api_key_store: statement_timeout must be 1 ms .. 1 min");
  if (o.call_timeout < o.statement_timeout)
    throw config_error(
        "postgres_api_key_store: call_timeout is shorter than "
        "statement_timeout; make it at least as long");
  if (o.connect_timeout < seconds(1))
    throw config_error("postgres_api_key_store: connect_timeout must be at least 1 s");

  impl_ = std::make_shared<impl>(std::move(options));
  impl_->publish = [this](const api_key_digest* d) { publish_revocation(d); };
  if (impl_->opt.migrate) impl_->migrate();

  for (std::size_t i = 0; i < impl_->opt.connections; ++i)
    impl_->threads.emplace_back([p = impl_.get()] { p->work(); });
  if (impl_->opt.listen) impl_->listener = std::thread([p = impl_.get()] { p->listen(); });
}

postgres_api_key_store::~postgres_api_key_store() {
  // Workers finish the calls already queued (each bounded by
  // statement_timeout), then exit.
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
    impl_->stopping_listener = true;
  }
  impl_->cv.notify_all();
  impl_->cv_listener.notify_all();
  for (auto& t : impl_->threads) t.join();
  if (impl_->listener.joinable()) impl_->listener.join();
}

void postgres_api_key_store::migrate() {
  impl_->migrate();
}

bool postgres_api_key_store::listening() const noexcept {
  return impl_->listening.load();
}

const counter_set& postgres_api_key_store::counters() const noexcept {
  return impl_->counters;
}

asio::awaitable<void> postgres_api_key_store::create(const api_key_record& record) {
  const auto& r = record;
  for (auto s :
       {std::string_view(r.id), std::string_view(r.owner), std::string_view(r.name),
        std::string_view(r.display), std::string_view(r.hash_scheme), std::string_view(r.tier)})
    if (has_nul(s))
      throw std::system_error(make_error_code(errc::store_protocol),
                              "postgres: a text field holds a NUL byte");
  for (const auto& s : r.scopes)
    if (has_nul(s) || s.find(' ') != std::string::npos)
      throw std::system_error(make_error_code(errc::store_protocol),
                              "postgres: a scope holds a space or NUL byte");
  if (r.max_uses && *r.max_uses > static_cast<std::uint64_t>(INT64_MAX))
    throw std::system_error(make_error_code(errc::store_protocol), "postgres: max_uses too large");

  // Each job is a named local: GCC 12 destroys a lambda temporary inside a
  // co_await expression twice.
  auto job = [r](pqxx::connection& c) {
    const std::string expires = r.expires ? std::to_string(to_us(*r.expires)) : std::string();
    const std::string max_uses = r.max_uses ? std::to_string(*r.max_uses) : std::string();
    pqxx::nontransaction w(c);
    w.exec_prepared("pc_create", r.id, r.owner, r.name, r.display, to_hex(r.hash), r.hash_scheme,
                    r.tier, text_array(r.scopes), to_us(r.created),
                    r.expires ? expires.c_str() : nullptr, r.max_uses ? max_uses.c_str() : nullptr);
    w.commit();
    return detail::no_value{};
  };
  co_await impl_->call<detail::no_value>(false, std::move(job));
}

asio::awaitable<std::optional<api_key_record>> postgres_api_key_store::find_by_hash(
    const api_key_digest& hash) {
  auto job = [hex = to_hex(hash)](pqxx::connection& c) -> std::optional<api_key_record> {
    pqxx::nontransaction t(c);
    auto res = t.exec_prepared("pc_find", hex);
    t.commit();
    if (res.empty()) return std::nullopt;
    return read_record(res[0]);
  };
  co_return co_await impl_->call<std::optional<api_key_record>>(true, std::move(job));
}

asio::awaitable<void> postgres_api_key_store::touch(std::span<const api_key_use> uses) {
  // One statement for the whole batch; repeated ids are summed first.
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> merged;
  for (const auto& u : uses) {
    if (has_nul(u.id)) continue;
    auto& m = merged[u.id];
    m.first = std::max(m.first, to_us(u.last_used));
    m.second += static_cast<std::int64_t>(u.count);
  }
  if (merged.empty()) co_return;
  std::vector<std::string> ids;
  std::vector<std::int64_t> times, counts;
  for (auto& [id, v] : merged) {
    ids.push_back(id);
    times.push_back(v.first);
    counts.push_back(v.second);
  }
  auto job = [a = text_array(ids), b = number_array<std::int64_t>(times),
              n = number_array<std::int64_t>(counts)](pqxx::connection& c) {
    pqxx::nontransaction w(c);
    w.exec_prepared("pc_touch", a, b, n);
    w.commit();
    return detail::no_value{};
  };
  co_await impl_->call<detail::no_value>(false, std::move(job));
}

asio::awaitable<bool> postgres_api_key_store::consume_use(std::string_view id, wall_time now) {
  if (has_nul(id) || !detail::is_clean_utf8(id)) co_return false;
  auto job = [id = std::string(id), at = to_us(now)](pqxx::connection& c) {
    pqxx::nontransaction w(c);
    auto res = w.exec_prepared("pc_consume", id, at);
    w.commit();
    return !res.empty();
  };
  co_return co_await impl_->call<bool>(false, std::move(job));
}

asio::awaitable<bool> postgres_api_key_store::revoke(std::string_view owner, std::string_view id,
                                                     wall_time now) {
  // Values that no stored record can hold match nothing; PostgreSQL would
  // refuse invalid UTF-8 with an error instead.
  if (has_nul(owner) || has_nul(id) || !detail::is_clean_utf8(owner) || !detail::is_clean_utf8(id))
    co_return false;
  auto job = [owner = std::string(owner), id = std::string(id),
              at = to_us(now)](pqxx::connection& c) -> std::optional<std::string> {
    pqxx::nontransaction w(c);
    auto res = w.exec_prepared("pc_revoke", id, owner, at);
    w.commit();
    if (res.empty()) return std::nullopt;
    return res[0][0].as<std::string>();
  };
  auto hex = co_await impl_->call<std::optional<std::string>>(false, std::move(job));
  if (!hex) co_return false;
  // This instance drops the key now; the others hear the trigger's NOTIFY.
  api_key_digest d;
  if (from_hex(*hex, d))
    publish_revocation(&d);
  else
    publish_revocation(nullptr);
  co_return true;
}

asio::awaitable<std::vector<api_key_record>> postgres_api_key_store::list(std::string_view owner,
                                                                          std::size_t limit) {
  if (has_nul(owner) || !detail::is_clean_utf8(owner) || limit == 0)
    co_return std::vector<api_key_record>{};
  const auto n = static_cast<std::int64_t>(std::min<std::size_t>(limit, 1'000'000));
  auto job = [owner = std::string(owner), n](pqxx::connection& c) {
    pqxx::nontransaction t(c);
    auto res = t.exec_prepared("pc_list", owner, n);
    t.commit();
    std::vector<api_key_record> out;
    out.reserve(res.size());
    for (const auto& row : res) out.push_back(read_record(row));
    return out;
  };
  co_return co_await impl_->call<std::vector<api_key_record>>(true, std::move(job));
}

}  // namespace portcullis
