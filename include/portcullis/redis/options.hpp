// portcullis/redis/options.hpp — where Redis is and how to talk to it.
//
// The Redis backends take a `redis_options`, usually parsed from a URL:
//
//     auto opts = portcullis::redis_options::parse_url(
//         "redis://limiter:s3cret@10.0.0.5:6379/2");
//     opts.call_timeout = std::chrono::milliseconds(50);
//
//     // A Redis Cluster: any of its nodes as seeds, the rest is discovered.
//     auto cl = portcullis::redis_options::parse_url(
//         "redis+cluster://10.0.0.5:7000,10.0.0.6:7000");
//
// URL forms (RFC 3986 userinfo, percent-encoded where needed):
//   redis://[[username]:password@]host[:port][/db]     one server (db 0..)
//   redis+cluster://[[username]:password@]h1[:p1],h2[:p2]...   cluster seeds
// A bare password ("redis://:pw@h") authenticates as the default user
// (`AUTH pw`); a username uses Redis 6 ACLs (`AUTH user pw`). TLS
// (`rediss://`) is refused: hiredis 0.14 has no TLS. A cluster has only
// database 0.
//
// This header does not include hiredis.
#pragma once

#include "portcullis/clock.hpp"
#include "portcullis/log.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

/// One Redis server: a host name or an IP address, and a port.
struct redis_server {
  /// A host name (resolved asynchronously, never with a blocking call) or
  /// an IPv4/IPv6 address.
  std::string host;
  std::uint16_t port = 6379;

  /// "host:port" ("[::1]:6379" for IPv6), for logs.
  std::string to_string() const;
};

struct redis_options {
  /// The server, or for a cluster the seed nodes (at least one).
  std::vector<redis_server> servers;
  /// Talk Redis Cluster: route by hash slot, follow MOVED and ASK.
  bool cluster = false;

  /// ACL user name (Redis 6+); empty for the default user.
  std::string username;
  /// Password; empty for none. Never logged.
  std::string password;
  /// Database index (`SELECT`); must be 0 for a cluster.
  unsigned database = 0;

  /// How long one call may take, from the moment it is submitted until its
  /// answer, including redirects and a NOSCRIPT reload. A call that runs
  /// out fails with errc::store_timeout; the request never waits longer.
  /// Default 100 ms; 1 ms .. 60 s.
  std::chrono::milliseconds call_timeout{100};
  /// How long a TCP connect plus handshake (AUTH, SELECT) may take.
  /// Default 1 s.
  std::chrono::milliseconds connect_timeout{1000};
  /// A connection with calls waiting and nothing read for this long is
  /// considered dead and is dropped and reconnected. Calls time out long
  /// before (call_timeout); this only decides when to give up on the
  /// socket. Default 3 s; must be at least call_timeout.
  std::chrono::milliseconds stall_timeout{3000};
  /// Backoff between reconnect attempts: starts at `reconnect_min`,
  /// doubles per failed attempt up to `reconnect_max`, with up to 25 %
  /// random jitter. Defaults 50 ms and 2 s.
  std::chrono::milliseconds reconnect_min{50};
  std::chrono::milliseconds reconnect_max{2000};

  /// Connections per server. Commands are pipelined on each, so one is
  /// enough for most services; more help when one Redis connection's
  /// parsing becomes the bottleneck. Default 1; 1..64.
  unsigned connections = 1;
  /// Calls waiting on one connection beyond this fail at once with
  /// errc::store_unavailable (back-pressure, instead of a queue that grows
  /// while Redis is slow). Default 10 000.
  std::size_t max_in_flight = 10000;

  /// Where the connection state changes are logged (warnings throttled).
  logger log;
  /// The clock for call timeouts and log throttling. Must outlive the store.
  const clock* time = &system_clock();

  /// Where the connections run. Empty (the default): on a thread of the
  /// store's own, so every call crosses to that thread and its answer
  /// crosses back. Give the executor of the io_context that serves the
  /// requests (`server`'s factory constructor passes it; see server.hpp)
  /// and a call never leaves the threads that serve: the connections run
  /// on a strand of it, and a request that waits for Redis costs no thread
  /// switch. That io_context must be running for calls to complete. It may
  /// be destroyed before the store: the connections close with it, what
  /// is in flight fails with errc::store_unavailable, and so does every
  /// later call; but no call may start while it is being destroyed.
  boost::asio::any_io_executor executor;

  /// Parses a URL of the forms above. Throws config_error naming the URL
  /// part that is wrong (the password is never repeated in the message).
  static redis_options parse_url(std::string_view url);

  /// Checks every option; throws config_error naming the option and the
  /// fix. Called by every backend that takes redis_options.
  void validate() const;
};

}  // namespace portcullis
