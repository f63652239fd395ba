// portcullis/api_key_store.hpp — where API-key records live.
//
// A store keeps one record per key: who owns it, what it may do, and the
// digest of the key (never the key). portcullis ships two stores:
// `memory_api_key_store` here (one process, no set-up) and
// `postgres_api_key_store` (portcullis/postgres/api_key_store.hpp, target
// portcullis::postgres). Issuing a key:
//
//     portcullis::memory_api_key_store store;
//     portcullis::new_api_key spec{.owner = "user-42", .name = "ci", .tier = "pro",
//                                   .scopes = {"items:read"}};
//     if (auto problem = portcullis::check_new_api_key(spec); !problem.empty()) ...
//     auto issued = portcullis::make_api_key(spec, format, hasher, clk.wall_now());
//     co_await store.create(issued.record);
//     // issued.key goes to the owner, once; only issued.record is kept.
//
// Writing your own backend
// ------------------------
// Derive from `api_key_store` and implement the six calls below. Each is a
// coroutine on the caller's executor: it must not block that thread (run
// blocking client libraries on threads of your own and resume the caller on
// its executor), and it must finish in bounded time (a timeout of its own),
// though the middleware also gives up on a call after its `store_timeout`.
// A call that fails throws std::system_error with errc::store_unavailable
// (cannot reach the backend) or errc::store_timeout (it did not answer in
// time); the middleware turns those into its failure policy. Any other
// exception is treated the same way. Arguments passed by reference or view
// stay valid until the returned awaitable completes.
//
// When a key is revoked anywhere (by this process, another instance, or an
// administrator with SQL), the store calls publish_revocation() with its
// digest, from any thread, so that every verifier drops it from its cache at
// once. A store that cannot tell which keys were revoked (a notification
// channel was lost) publishes nullptr: "anything may have been revoked".
#pragma once

#include "portcullis/api_key.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portcullis {

namespace asio = boost::asio;

/// Wall-clock time of records (stored, shown to users).
using wall_time = std::chrono::system_clock::time_point;

/// One stored API key.
struct api_key_record {
  /// Public, unique id ("key_" and 16 base62 characters); safe to show and log.
  std::string id;
  /// The user the key acts for.
  std::string owner;
  /// The owner's label for the key ("ci deploy").
  std::string name;
  /// The display form ("sk_live_...Qx0a").
  std::string display;
  /// The digest of the key, unique across the store.
  api_key_digest hash{};
  /// How `hash` was made ("sha256", "hmac-sha256:k1").
  std::string hash_scheme;
  /// The plan the key's requests count against ("free", "pro").
  std::string tier;
  /// Granted scopes ("items:read").
  std::vector<std::string> scopes;
  wall_time created{};
  /// After this the key is refused; none: never expires.
  std::optional<wall_time> expires;
  /// When the key was last used, as far as batched writes have reached.
  std::optional<wall_time> last_used;
  /// When the key was revoked; none while it is live.
  std::optional<wall_time> revoked;
  /// The most uses the key allows; none: unlimited.
  std::optional<std::uint64_t> max_uses;
  /// Uses counted so far (exact for keys with max_uses, batched otherwise).
  std::uint64_t uses = 0;
};

/// Uses of one key since the last batch, for api_key_store::touch().
struct api_key_use {
  std::string id;
  wall_time last_used;
  std::uint64_t count = 0;
};

/// The interface every API-key backend implements. Thread-safe.
class api_key_store {
 public:
  /// Called with the digest of a revoked key, or with nullptr when any key
  /// may have been revoked. Runs on a store thread: keep it short.
  using revocation_listener = std::function<void(const api_key_digest* hash)>;

  virtual ~api_key_store();

  /// Stores a new record. `record.id` and `record.hash` must be new; a
  /// duplicate throws std::system_error(errc::store_protocol).
  virtual asio::awaitable<void> create(const api_key_record& record) = 0;

  /// The record whose digest is `hash`, revoked and expired ones included
  /// (the caller decides), or nothing.
  virtual asio::awaitable<std::optional<api_key_record>> find_by_hash(
      const api_key_digest& hash) = 0;

  /// Adds uses and raises last-used times for many keys in one step. Ids
  /// that do not exist are ignored. A last-used time never moves backwards.
  virtual asio::awaitable<void> touch(std::span<const api_key_use> uses) = 0;

  /// Takes one use of a key with max_uses, atomically across every
  /// instance: true when a use was left (and is now counted), false when
  /// the key is used up, revoked or gone. Also sets last-used to `now`.
  virtual asio::awaitable<bool> consume_use(std::string_view id, wall_time now) = 0;

  /// Revokes key `id` if `owner` owns it and it is live, and publishes the
  /// revocation. False when there is no such key, it belongs to someone
  /// else, or it was revoked before: the caller cannot tell these apart.
  virtual asio::awaitable<bool> revoke(std::string_view owner, std::string_view id,
                                       wall_time now) = 0;

  /// The keys of `owner`, revoked ones included, newest first, at most `limit`.
  virtual asio::awaitable<std::vector<api_key_record>> list(std::string_view owner,
                                                            std::size_t limit = 1000) = 0;

  /// Registers a listener; returns a token for unsubscribe().
  std::uint64_t subscribe(revocation_listener listener);
  /// Removes a listener. After it returns the listener is not running and
  /// will not run again.
  void unsubscribe(std::uint64_t token);

 protected:
  /// Tells every listener about a revocation (see revocation_listener).
  void publish_revocation(const api_key_digest* hash);

 private:
  std::mutex listeners_mutex_;
  std::map<std::uint64_t, revocation_listener> listeners_;
  std::uint64_t next_token_ = 1;
};

/// Options of memory_api_key_store.
struct memory_api_key_store_options {
  /// The most records it holds; create() fails with store_unavailable
  /// beyond it. Records are never evicted: they are not a cache.
  std::size_t max_keys = 1'000'000;
};

/// Keeps records in this process. For one instance, tests and development;
/// everything is lost when the process ends. Every call completes at once.
class memory_api_key_store final : public api_key_store {
 public:
  explicit memory_api_key_store(memory_api_key_store_options options = {});

  asio::awaitable<void> create(const api_key_record& record) override;
  asio::awaitable<std::optional<api_key_record>> find_by_hash(const api_key_digest& hash) override;
  asio::awaitable<void> touch(std::span<const api_key_use> uses) override;
  asio::awaitable<bool> consume_use(std::string_view id, wall_time now) override;
  asio::awaitable<bool> revoke(std::string_view owner, std::string_view id, wall_time now) override;
  asio::awaitable<std::vector<api_key_record>> list(std::string_view owner,
                                                    std::size_t limit = 1000) override;

  /// The number of records.
  std::size_t size() const;

 private:
  struct digest_hash {
    std::size_t operator()(const api_key_digest& d) const noexcept;
  };
  memory_api_key_store_options options_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, api_key_record> by_id_;
  std::unordered_map<api_key_digest, std::string, digest_hash> by_hash_;
};

/// What a caller asks for when issuing a key.
struct new_api_key {
  /// The user the key acts for: 1..256 bytes of UTF-8, no control characters.
  std::string owner;
  /// A label: 0..200 bytes of UTF-8, no control characters.
  std::string name;
  /// 1..32 characters of [a-z0-9_-].
  std::string tier = "default";
  /// At most 32 scopes, each 1..64 characters of [a-z0-9_:.-], no repeats.
  std::vector<std::string> scopes;
  /// Optional expiry; must lie after the time of issue.
  std::optional<wall_time> expires;
  /// Optional limit on uses: 1 or more.
  std::optional<std::uint64_t> max_uses;
};

/// Empty when `spec` may be issued at `now`, else a short sentence saying
/// which field is wrong (safe to return to a client: it never echoes input).
std::string check_new_api_key(const new_api_key& spec, wall_time now);

/// A key and the record to store for it.
struct issued_api_key {
  /// The key itself: show it to its owner once, then forget it.
  std::string key;
  api_key_record record;
};

/// Generates a key for `spec` and builds its record (id, digest, display,
/// times rounded to microseconds). Stores nothing. Throws
/// std::invalid_argument when check_new_api_key() finds a problem, and
/// config_error for an invalid format.
issued_api_key make_api_key(const new_api_key& spec, const api_key_format& format,
                            const api_key_hasher& hasher, wall_time now);

namespace detail {
/// True when `s` is valid UTF-8 (no overlongs, surrogates or values above
/// U+10FFFF) without C0/C1 control characters or DEL.
bool is_clean_utf8(std::string_view s) noexcept;
}  // namespace detail

}  // namespace portcullis
