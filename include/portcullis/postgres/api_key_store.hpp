// portcullis/postgres/api_key_store.hpp — API-key records in PostgreSQL.
//
// Link portcullis::postgres. This header does not include libpqxx.
//
//     portcullis::postgres_api_key_store_options o;
//     o.url = "postgresql://app@db.internal/app";
//     auto store = std::make_shared<portcullis::postgres_api_key_store>(o);
//     // applies its migrations, then serves api_key_auth:
//     api_key_auth_options{.store = store, ...};
//
// libpqxx 6.4 blocks, so every call runs on a pool of `connections`
// threads, each with its own connection, never on an I/O thread; the
// caller's coroutine waits without blocking and resumes on its own
// executor. Every statement is prepared and takes its values as
// parameters. Each call has two limits: `statement_timeout` on the server
// (a statement cancelled by it arrives as SQLSTATE 57014 and keeps the
// connection) and `call_timeout` on the client (queue wait plus statement;
// the caller gets errc::store_timeout and the worker's late answer is
// dropped). A connection that breaks is dropped and a new one is opened by
// the next call; reads are retried once on a fresh connection, writes are
// not (they might have been applied). The pool's threads block SIGPIPE, so
// a write to a closed socket cannot end the process; the process's own
// SIGPIPE disposition is left as it is.
//
// Revocations reach every instance through LISTEN/NOTIFY: a trigger on the
// table notifies `portcullis_api_key_revoked` with the key's digest when a
// key is revoked, deleted or has its expiry, scopes, tier or use limit
// changed, whoever did it (this library or an administrator's SQL). A
// listener thread holds one more connection; should it lose it, it
// reconnects and tells every cache to drop everything, since notifications
// sent meanwhile are gone.
//
// The schema is a list of versioned migrations (postgres_api_key_migrations())
// that the store applies at construction under an advisory lock, recording
// them in `portcullis_schema_migrations`; a DBA may apply the same SQL
// instead and set `migrate = false`.
#pragma once

#include "portcullis/api_key_store.hpp"
#include "portcullis/clock.hpp"
#include "portcullis/counters.hpp"
#include "portcullis/log.hpp"

#include <memory>
#include <span>
#include <string>

namespace portcullis {

struct postgres_api_key_store_options {
  /// A libpq connection string or URL ("postgresql://user@host:5432/db").
  /// Required. `connect_timeout` is added unless it already has one.
  std::string url;
  /// Threads, each with one connection. 1..64.
  std::size_t connections = 4;
  /// Calls that may wait for a thread; beyond it a call fails at once with
  /// errc::store_unavailable instead of queuing without bound. 1..100000.
  std::size_t max_queue = 1024;
  /// Server-side limit of each statement. 1 ms .. 1 min.
  clock::duration statement_timeout = std::chrono::seconds(2);
  /// Client-side limit of each call, queue wait included. At least
  /// statement_timeout.
  clock::duration call_timeout = std::chrono::seconds(3);
  /// Limit of opening a connection (whole seconds, at least 1).
  std::chrono::seconds connect_timeout{2};
  /// Apply the migrations at construction.
  bool migrate = true;
  /// Listen for revocations from other instances.
  bool listen = true;
  /// Where connection losses and listener trouble are logged (throttled).
  logger log;
  /// The instance name in counters and logs.
  std::string name = "api_keys";
};

/// One step of the schema.
struct postgres_migration {
  int version;
  std::string_view description;
  std::string_view sql;
};

/// The migrations of the API-key schema, oldest first.
std::span<const postgres_migration> postgres_api_key_migrations() noexcept;

/// The channel revocations are notified on.
inline constexpr std::string_view postgres_api_key_channel = "portcullis_api_key_revoked";

/// Counters: `calls`, `timeouts` (call_timeout passed), `statement_timeouts`
/// (SQLSTATE 57014), `broken_connections`, `connects`, `rejected` (queue
/// full), `notifications`, `listener_losses`.
class postgres_api_key_store final : public api_key_store {
 public:
  /// Checks the options (config_error naming the option), starts the pool
  /// and the listener, and applies the migrations when `migrate` is set:
  /// that connects at once and throws std::system_error(store_unavailable)
  /// when the database cannot be reached.
  explicit postgres_api_key_store(postgres_api_key_store_options options);
  /// Stops the threads. Calls still waiting fail with store_unavailable;
  /// a statement in progress finishes (bounded by statement_timeout).
  ~postgres_api_key_store() override;

  postgres_api_key_store(const postgres_api_key_store&) = delete;
  postgres_api_key_store& operator=(const postgres_api_key_store&) = delete;

  asio::awaitable<void> create(const api_key_record& record) override;
  asio::awaitable<std::optional<api_key_record>> find_by_hash(const api_key_digest& hash) override;
  asio::awaitable<void> touch(std::span<const api_key_use> uses) override;
  asio::awaitable<bool> consume_use(std::string_view id, wall_time now) override;
  asio::awaitable<bool> revoke(std::string_view owner, std::string_view id, wall_time now) override;
  asio::awaitable<std::vector<api_key_record>> list(std::string_view owner,
                                                    std::size_t limit = 1000) override;

  /// Applies the migrations not yet applied (what construction does with
  /// `migrate`). Blocks the calling thread.
  void migrate();

  /// True while the listener holds a connection with LISTEN active.
  bool listening() const noexcept;

  const counter_set& counters() const noexcept;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace portcullis
