// A Redis client for the backends: a pool of pipelined hiredis connections
// per server, on a strand of the caller's executor (or of a private
// io_context thread), with Redis Cluster routing
// (hash slots, MOVED, ASK, slot-map refresh) and Lua scripts run by SHA1
// with a reload on NOSCRIPT. Private to src/redis.
#pragma once

#include "connection.hpp"

#include <boost/asio/io_context.hpp>

#include <functional>
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
  /// Validates `options` (config_error) and starts connecting at once: on
  /// `options.executor` when it is set (through a strand of it), else on a
  /// thread of the client's own.
  client(redis_options options, std::shared_ptr<counter_set> stats);
  /// Fails what is in flight with store_unavailable. On a thread of its
  /// own, joins it; on the caller's executor, returns at once and the
  /// connections close there (or when its io_context is destroyed).
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Runs one command. Thread-safe. `key` is the key the command touches
  /// (it picks the cluster node); empty for any node. `done` runs once,
  /// within call_timeout: on the client's strand, or at once on the
  /// calling thread when the executor's io_context is already gone.
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
  /// tests; never call it from a thread that serves requests (on the
  /// caller's executor it would wait for the very thread it blocks).
  bool wait_ready(std::chrono::milliseconds timeout) const;

  struct core;  // the state the executor's handlers share; private

 private:
  std::unique_ptr<asio::io_context> own_io_;  // without options.executor
  std::shared_ptr<core> core_;
  std::thread thread_;
};

}  // namespace portcullis::redis::detail
