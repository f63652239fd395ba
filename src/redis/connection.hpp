// One hiredis 0.14 asynchronous connection, driven by Asio. Private to the
// Redis backend: nothing outside src/redis sees hiredis.
//
// hiredis 0.14 has five habits that this adapter is built around:
//  - it owns its socket and closes it in redisAsyncFree, so the Asio
//    descriptor that waits on it is released, never closed;
//  - it may free its context inside redisAsyncHandleRead/Write (on an
//    error or a closed socket), so after every call into it the adapter
//    checks that the context is still alive (the cleanup hook clears it);
//  - it has no timeouts, so every command carries a deadline that a timer
//    enforces here;
//  - redisAsyncConnect resolves host names with a blocking getaddrinfo, so
//    it is only ever given a numeric address, resolved beforehand by Asio;
//  - it writes with write(2), which raises SIGPIPE on a closed peer, so
//    every write is made under detail::sigpipe_guard (the thread may be
//    the application's).
// Commands go through redisAsyncCommandArgv (binary-safe, no format
// string). All of it runs on one strand; nothing here locks. A connection
// is owned by shared_ptr, and every handler it leaves with Asio holds it,
// so it may be dropped while its executor's io_context still runs.
#pragma once

#include "portcullis/clock.hpp"
#include "portcullis/counters.hpp"
#include "portcullis/redis/options.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

struct redisAsyncContext;

namespace portcullis::redis::detail {

namespace asio = boost::asio;

/// A reply, copied out of hiredis's reply object (which hiredis frees as
/// soon as the callback returns).
struct reply {
  enum class kind : std::uint8_t { nil, integer, string, status, error, array };
  kind type = kind::nil;
  std::int64_t integer = 0;
  std::string str;
  std::vector<reply> elements;

  bool is_error() const noexcept { return type == kind::error; }
  /// True for an error reply whose first word is `word` ("MOVED", "NOSCRIPT").
  bool error_is(std::string_view word) const noexcept;
};

/// Called once per command, on the connection's strand.
using reply_handler = std::function<void(std::error_code, reply)>;

/// The counters of a Redis client, in the order make_stats declares them.
namespace stat_id {
enum : std::size_t {
  calls,
  errors,
  timeouts,
  unavailable,
  protocol_errors,
  script_reloads,
  moved,
  ask,
  slot_refreshes,
  connects,
  disconnects,
  stalls,
};
}  // namespace stat_id

/// Builds the counter set of a Redis client: subsystem `redis_store`.
std::unique_ptr<counter_set> make_stats(std::string_view instance);

class connection : public std::enable_shared_from_this<connection> {
 public:
  /// Called on the strand when the connection becomes ready or is lost.
  using state_listener = std::function<void(connection&, bool ready)>;

  /// `strand` must be a strand (or a single-threaded executor): every
  /// handler runs there.
  connection(asio::any_io_executor strand, redis_server server,
             std::shared_ptr<const redis_options> options, std::shared_ptr<counter_set> stats,
             state_listener on_state);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Starts connecting (and reconnecting whenever the link is lost).
  void start();
  /// Frees the hiredis context (failing what is in flight) and stops
  /// reconnecting. Idempotent.
  void stop();
  /// stop(), with what is in flight failed at once, inside this call,
  /// rather than posted: for an owner that is going away, whose executor
  /// may never run another handler.
  void abandon();

  /// True once connected and the handshake (AUTH, SELECT) succeeded.
  bool ready() const noexcept { return ready_; }
  /// True while a hiredis context exists (connecting or connected).
  bool alive() const noexcept { return ac_ != nullptr; }
  std::size_t in_flight() const noexcept { return pending_.size(); }
  const redis_server& server() const noexcept { return server_; }

  /// Queues one command (pipelined behind whatever is in flight). `done`
  /// runs exactly once on the strand: with the reply (which may be an
  /// error reply), or with store_unavailable / store_timeout. When
  /// `asking` is set, an ASKING command is sent first, on the same
  /// connection, as a cluster ASK redirect demands.
  void send(std::span<const std::string_view> argv, clock::time_point deadline, reply_handler done,
            bool asking = false);

 private:
  struct record;

  void resolve();
  void connect(const asio::ip::address& address);
  void handshake();
  void on_context_gone();
  void schedule_reconnect();
  void drop(std::string_view why);
  void arm_read();
  void arm_write(bool wait_for_room = false);
  void flush_if_redis_waits();
  // Lets hiredis write what it holds; false when the context went away.
  bool write_now();
  void arm_timer(clock::time_point at);
  void on_timer();
  bool issue(record* r, std::span<const std::string_view> argv);

  static void hook_add_read(void* self);
  static void hook_del_read(void* self);
  static void hook_add_write(void* self);
  static void hook_del_write(void* self);
  static void hook_cleanup(void* self);
  static void on_connected(const redisAsyncContext* ac, int status);
  static void on_reply(redisAsyncContext* ac, void* r, void* privdata);

  asio::any_io_executor strand_;
  redis_server server_;
  std::shared_ptr<const redis_options> options_;
  std::shared_ptr<counter_set> stats_;
  state_listener on_state_;

  asio::ip::tcp::resolver resolver_;
  asio::posix::stream_descriptor socket_;
  asio::steady_timer timer_;        // call deadlines and stall detection
  asio::steady_timer retry_timer_;  // reconnect backoff and connect timeout
  clock::time_point timer_at_ = clock::time_point::max();

  redisAsyncContext* ac_ = nullptr;
  std::uint64_t generation_ = 0;  // bumped whenever a context goes away
  bool want_read_ = false, want_write_ = false;
  bool read_armed_ = false, write_armed_ = false;
  bool write_waits_for_room_ = false;  // the armed write waits for EPOLLOUT
  std::size_t unsent_ = 0;             // commands queued since the last full write
  bool ready_ = false;
  bool stopped_ = true;
  bool deliver_inline_ = false;  // set by abandon()
  unsigned failures_ = 0;
  clock::time_point last_read_{};
  log_throttle log_throttle_;

  // Commands in flight, oldest first (hiredis answers in order).
  std::deque<record*> pending_;
};

}  // namespace portcullis::redis::detail
