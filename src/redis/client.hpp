// A Redis client for the backends: a pool of pipelined hiredis connections
// per server, on one private io_context thread, with Redis Cluster routing
// (hash slots, MOVED, ASK, slot-map refresh) and Lua scripts run by SHA1
// with a reload on NOSCRIPT. Private to src/redis.
#pragma once

#include "connection.hpp"

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace portcullis::redis::detail {

/// A Lua script and its SHA1, computed here rather than asked of Redis.
struct script {
  explicit script(std::string text);
  std::string source;
  std::string sha1;
};

class client {
 public:
  /// Validates `options` (config_error) and starts connecting at once, on
  /// a thread of its own. `stats` (see make_stats) must outlive the client.
  client(redis_options options, counter_set& stats);
  /// Fails what is in flight with store_unavailable and joins the thread.
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Runs one command. Thread-safe. `key` is the key the command touches
  /// (it picks the cluster node); empty for any node. `done` runs once, on
  /// the client's thread, within call_timeout.
  void execute(std::vector<std::string> argv, std::string_view key, reply_handler done);

  /// EVALSHA `s` with one key and `args`; on NOSCRIPT the call is retried
  /// once as EVAL (which also loads the script again).
  void run_script(const script& s, std::string key, std::vector<std::string> args,
                  reply_handler done);

  /// Deletes every key that matches the SCAN `pattern`, on every node
  /// (SCAN + UNLINK, one key at a time so that it works across slots).
  /// `done` gets the first error, if any.
  void scan_delete(std::string pattern, std::function<void(std::error_code)> done);

  /// Blocks the calling thread until every server is connected (and, on a
  /// cluster, the slot map is known) or `timeout` passes. For start-up and
  /// tests; never call it from a thread that serves requests.
  bool wait_ready(std::chrono::milliseconds timeout) const;

  const redis_options& options() const noexcept { return options_; }

 private:
  struct node;
  struct op;
  struct scan_job;

  node& node_for(const std::string& host, std::uint16_t port);
  void dispatch(std::shared_ptr<op> o, node* target = nullptr, bool asking = false);
  void on_result(std::shared_ptr<op> o, std::error_code ec, reply r);
  void refresh_slots();
  void apply_slots(const reply& r, const redis_server& from);
  void update_ready();
  void scan_step(std::shared_ptr<scan_job> job, node* n, std::string cursor);

  redis_options options_;
  counter_set& stats_;
  asio::io_context io_;

  // Everything below is touched on the io thread only.
  std::map<std::string, std::unique_ptr<node>> nodes_;
  std::vector<node*> seeds_;
  std::array<node*, 16384> slots_{};
  bool slots_known_ = false;
  bool refreshing_ = false;
  bool refresh_wanted_ = false;  // asked for while one was in flight
  clock::time_point last_refresh_{};
  std::atomic<bool> ready_{false};

  std::thread thread_;
};

}  // namespace portcullis::redis::detail
