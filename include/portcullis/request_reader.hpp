// portcullis/request_reader.hpp — read one request safely from your own Beast server.
//
// `portcullis::server` reads with this class; a service that keeps its own
// accept loop and sessions uses it in place of `http::async_read`. It reads
// the header first (431 over the header limit), asks for the route's body
// limit and compares the declared `Content-Length` with it before any body
// byte is read (413), counts chunked bodies as they arrive (413), refuses
// ambiguous framing (400, see request_parser.hpp), answers `Expect:
// 100-continue` only once the limits pass, and cuts off clients that are
// too slow (408). Every refusal comes back as a ready JSON response:
//
//     portcullis::request_reader reader{{.routes = &app}};   // per-route body limits
//     for (;;) {
//       auto r = co_await reader.read(stream);                // beast::tcp_stream
//       if (r.what == portcullis::read_result::closed) break;
//       if (r.what == portcullis::read_result::rejected) {
//         co_await reader.write(stream, r.rejection);         // 4xx, Connection: close
//         co_await reader.close(stream, true);                // lingering close
//         break;
//       }
//       portcullis::context ctx{peer};
//       ctx.deadline = r.started + 30s;
//       auto res = co_await app.handle(r.req, ctx);
//       bool keep = r.req.keep_alive() && res.keep_alive();
//       if (!co_await reader.write(stream, res) || !keep) break;
//     }
//     co_await reader.close(stream, false);
//
// One reader belongs to one connection: it keeps the bytes a client sent
// past the end of one request (pipelining) for the next read. Deadlines
// are kept by a small watchdog coroutine on the stream's executor that
// cancels the socket's pending operations when the current deadline
// passes; the executor must therefore be a strand, or an io_context run
// by one thread, and the reader must be used and destroyed on it, before
// the stream. A `beast::tcp_stream` should have no expiry of its own set.
//
// Supported streams: `asio::ip::tcp::socket`, `beast::tcp_stream`, and
// `asio::ssl::stream` over either (include <boost/asio/ssl/stream.hpp>
// yourself for those). Other stream types do not link.
//
// After a rejection the connection must be closed: the rest of the request
// was not read, so the byte stream no longer tells where a next request
// would start.
#pragma once

#include "portcullis/chain.hpp"
#include "portcullis/clock.hpp"
#include "portcullis/errc.hpp"
#include "portcullis/http.hpp"
#include "portcullis/request_parser.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace portcullis {

/// Limits and deadlines of a `request_reader`.
struct read_options {
  /// The largest request header (request line, fields, final CRLF): 431
  /// above it. Also the budget for header plus chunked trailers.
  std::size_t header_limit = 8 * 1024;
  /// The body limit when `routes` is null. Default 1 MiB.
  std::uint64_t body_limit = 1 << 20;
  /// When set, the body limit of each request is
  /// `routes->body_limit_for(method, target)` (per-route limits). Must
  /// outlive the reader.
  const chain* routes = nullptr;
  /// How long a connection may wait for the first byte of a request
  /// (keep-alive idle time). Passing it closes the connection without an
  /// answer.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
  /// From the first byte of a request until its header is complete: 408.
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);
  /// From the end of the header until the body is complete: 408.
  std::chrono::milliseconds body_timeout = std::chrono::seconds(30);
  /// For each write (responses, `100 Continue`, TLS shutdown).
  std::chrono::milliseconds write_timeout = std::chrono::seconds(10);
  /// The clock `read_result::started` is read from (the chain's clock, so
  /// that a deadline computed from it means the same to the middleware).
  /// Socket deadlines always use the real monotonic clock.
  const clock* time = &system_clock();
};

/// What `request_reader::read` produced.
struct read_result {
  enum outcome : std::uint8_t {
    /// `req` holds a complete request.
    request,
    /// The request was refused: write `rejection`, then close.
    rejected,
    /// The connection ended (peer closed, reset, idle timeout, cancel())
    /// before a request began or in the middle of one; nothing to answer.
    closed,
  };
  outcome what = closed;
  /// The request; for a refusal once the header was read (body over the
  /// limit), its header alone, so that the caller can decorate the answer
  /// (chain::decorate_refusal); otherwise empty on a refusal.
  portcullis::request req;
  /// The JSON answer (`{"error": ...}`, `Connection: close`) to a refusal.
  response rejection;
  /// Why a request was refused: header_too_large, body_too_large,
  /// bad_framing or timeout. Why a connection closed: timeout (idle) or
  /// cancelled; empty otherwise.
  std::error_code reason;
  /// When the first byte of this request was seen, on `read_options::time`.
  clock::time_point started{};
};

class request_reader {
 public:
  /// Throws config_error when header_limit is 0 or a timeout is not positive.
  explicit request_reader(read_options options = {});
  ~request_reader();
  request_reader(const request_reader&) = delete;
  request_reader& operator=(const request_reader&) = delete;

  /// Reads the next request. See read_result for the outcomes.
  template <typename Stream>
  asio::awaitable<read_result> read(Stream& stream);

  /// Writes `res` within the write timeout. With `header_only` (answers to
  /// HEAD) only the header goes out, `Content-Length` included. Returns
  /// false when the write failed or timed out (then close).
  template <typename Stream>
  asio::awaitable<bool> write(Stream& stream, response& res, bool header_only = false);

  /// Ends the connection: TLS close_notify (waiting for the peer's at most
  /// 1 s, or the write timeout if shorter), TCP shutdown, close. With
  /// `linger`, first reads and discards what the client still sends for up
  /// to a second (at most 64 KiB), so that the client reads the answer
  /// instead of a reset caused by unread data.
  template <typename Stream>
  asio::awaitable<void> close(Stream& stream, bool linger);

  /// Arms the watchdog: the stream's pending operations are cancelled once
  /// `d` has passed (for your own writes or a TLS handshake).
  template <typename Stream>
  void expires_after(Stream& stream, std::chrono::milliseconds d);
  /// Disarms the watchdog.
  void disarm() noexcept;
  /// True when the last operation was cut off by a deadline.
  bool timed_out() const noexcept;

  /// True while read() waits for the first byte of a request.
  bool idle() const noexcept;
  /// Cancels the stream's pending operations now; a read() waiting idle
  /// returns `closed`. For graceful shutdown.
  void cancel() noexcept;

  const read_options& options() const noexcept;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace portcullis
