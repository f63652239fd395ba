// portcullis/server.hpp — the ready-made HTTP/1.1 server that runs a chain.
//
//     portcullis::chain app = ...;                       // see chain.hpp
//     portcullis::server srv{app, {.address = "0.0.0.0", .port = 8080}};
//     srv.run();            // until SIGINT/SIGTERM or stop(); then drains
//
// What it does for every connection:
//  - reads each request with a `request_reader` (request_reader.hpp): a
//    header limit (431), the route's body limit against `Content-Length`
//    before the body is read and against chunked bodies as they arrive
//    (413), strict framing (400), header/body/idle/write deadlines (408,
//    or a quiet close when idle);
//  - puts the whole-request deadline into `context::deadline` (first byte
//    + request_timeout) for the middleware to honour; the server itself
//    does not interrupt a handler that runs past it;
//  - keep-alive and pipelining, answers in request order, `Connection:
//    close` honoured, `100 Continue` only after the limits pass;
//  - caps open connections in total and per client address (the TCP peer,
//    since forwarding headers are not yet read at accept time): past a cap
//    the connection is closed at once, counted, and a throttled warning is
//    logged;
//  - optional TLS (OpenSSL, TLS 1.2 minimum) with the header deadline on
//    the handshake;
//  - graceful shutdown: stop accepting, close idle connections, let
//    requests in flight finish within drain_timeout (their answers carry
//    `Connection: close`), then close what is left.
//
// Every refusal is JSON (`{"error": "..."}`), counted in counters(), and
// logged at debug. N threads run one io_context; each connection runs on
// its own strand, so the chain is called from many threads at once.
#pragma once

#include "portcullis/chain.hpp"
#include "portcullis/clock.hpp"
#include "portcullis/counters.hpp"
#include "portcullis/ip_network.hpp"
#include "portcullis/log.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace portcullis {

/// A certificate chain and its private key, both PEM files.
struct tls_options {
  std::string certificate_file;
  std::string private_key_file;
};

struct server_options {
  /// The address to listen on: an IP literal ("127.0.0.1", "::", "0.0.0.0").
  std::string address = "127.0.0.1";
  /// The port; 0 picks any free port (read it back with server::port()).
  unsigned short port = 8080;
  /// I/O threads; 0 means the number of cores.
  unsigned threads = 0;
  /// The largest request header in bytes (431 above it).
  std::size_t header_limit = 8 * 1024;

  /// From the first byte of a request until its header is complete (408).
  /// Also bounds the TLS handshake.
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);
  /// From the end of the header until the body is complete (408).
  std::chrono::milliseconds body_timeout = std::chrono::seconds(30);
  /// How long a keep-alive connection may sit between requests.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
  /// From the first byte of a request until it must be answered; goes to
  /// `context::deadline`.
  std::chrono::milliseconds request_timeout = std::chrono::seconds(30);
  /// For writing each response.
  std::chrono::milliseconds write_timeout = std::chrono::seconds(10);
  /// How long stop() lets requests in flight finish before closing them.
  std::chrono::milliseconds drain_timeout = std::chrono::seconds(10);

  /// Open connections at most, in total and from one client. A client is
  /// an IPv4 address, or an IPv6 /64: one host is usually given a whole
  /// /64 and can open each connection from another address in it. Past
  /// either cap, new connections are closed as soon as they are accepted.
  std::size_t max_connections = 10000;
  std::size_t max_connections_per_client = 256;

  /// Serve HTTPS with these files; plain HTTP when unset.
  std::optional<tls_options> tls;

  /// Where the server logs (start, stop, refusals at debug, caps at warning).
  portcullis::logger log;
  /// Stop gracefully on SIGINT and SIGTERM while run() is running.
  bool handle_signals = true;
  /// The instance name in the counters ("server" by default).
  std::string name = "server";
  /// The clock `context::deadline` is computed on: give the chain's clock
  /// when the chain was built with its own. Default: system_clock().
  const clock* time = nullptr;
};

class server {
 public:
  /// Checks the options; throws config_error naming the option and the fix
  /// (an address that is not an IP literal, a zero limit or timeout, a
  /// per-client cap above the total, TLS files that cannot be loaded).
  server(chain app, server_options options);
  /// The same, with the chain built by `make_app`, called once, here, with
  /// the executor of the server's own io_context: for backends that can run
  /// their I/O on the threads that serve requests rather than on threads of
  /// their own (redis_options::executor), so that a request waiting for
  /// them costs no thread switch.
  ///
  ///     std::shared_ptr<portcullis::redis_rate_limit_store> store;
  ///     portcullis::server srv{opts, [&](const auto& io) {
  ///       portcullis::redis_store_options ro = ...;
  ///       ro.server.executor = io;
  ///       store = std::make_shared<portcullis::redis_rate_limit_store>(ro);
  ///       return build_chain(store);
  ///     }};
  ///
  /// The io_context is destroyed with the server; backends on it that live
  /// longer (the store above) fail their calls from then on (see
  /// redis_options::executor).
  server(server_options options,
         const std::function<chain(const boost::asio::any_io_executor&)>& make_app);
  /// Stops (gracefully) if running. Do not destroy a server from one of
  /// its own I/O threads.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds, listens and starts the I/O threads; returns at once. Throws
  /// std::system_error when the address cannot be bound.
  void start();

  /// The bound port (the real one when options.port was 0); 0 until start()
  /// (or run(), on another thread) has started the I/O threads. Any thread.
  unsigned short port() const noexcept;

  /// Calls start() if needed, then blocks until SIGINT/SIGTERM (when
  /// handle_signals) or stop() has drained the server.
  void run();

  /// Graceful stop: stop accepting, close idle connections, let requests
  /// in flight finish within drain_timeout, close the rest, end the
  /// threads. Blocks until done, except when called from a handler on one
  /// of the server's own threads (then it only begins the stop). Safe to
  /// call more than once, and before start().
  void stop();

  /// accepted, rejected_connections, requests, bad_framing,
  /// header_too_large, body_too_large, timeouts, idle_closed,
  /// tls_handshake_failures, handler_errors, drain_forced.
  const counter_set& counters() const noexcept;

  struct impl;  // opaque

 private:
  std::unique_ptr<impl> impl_;
};

namespace detail {
/// What `max_connections_per_client` counts `peer` as: the address itself
/// for IPv4 (IPv4-mapped IPv6 unmapped first), the /64 it lies in for IPv6.
ip_address connection_cap_key(const ip_address& peer) noexcept;
}  // namespace detail

}  // namespace portcullis
