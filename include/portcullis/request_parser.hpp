// portcullis/request_parser.hpp — HTTP/1.1 request framing, without I/O.
//
// A `request_parser` turns raw bytes into one `request`, refusing on the
// way everything that could let two parties disagree about where a request
// ends (request smuggling, RFC 9112 §6.3 and §11.2) and everything larger
// than its limits. It does no I/O: the caller reads bytes, hands them over
// and removes what was used. `request_reader` (request_reader.hpp) and
// `server` (server.hpp) drive it over sockets; the fuzz target drives it
// directly.
//
//     portcullis::request_parser p{8 * 1024};        // header limit
//     for (;;) {
//       std::size_t used = 0;
//       auto r = p.parse(buffered, used);            // buffered: unread bytes
//       drop_front(buffered, used);
//       if (r == parse_result::header_done) {
//         // The header is complete; decide the body limit before any body
//         // byte is taken. Over the limit: 413 without reading the body.
//         if (!p.accept_body(limits.for_route(p.get()))) break;
//         continue;
//       }
//       if (r == parse_result::complete) break;      // p.release() is the request
//       if (r == parse_result::rejected) break;      // p.error(): status, reason
//       read_more(buffered);                         // need_more
//     }
//
// What is refused (always with the connection to be closed afterwards):
//  - 431: a header (request line and fields) larger than the header limit,
//    or trailers that would take the header past it.
//  - 413: a `Content-Length` above the body limit (before any body byte is
//    read), or chunks that add up to more than it (before the chunk that
//    crosses it is read).
//  - 400: `Content-Length` together with `Transfer-Encoding`; two different
//    `Content-Length` values; a `Content-Length` that is not a plain
//    decimal number (lists, signs, spaces inside, more than 19 digits); any
//    transfer coding other than exactly one `chunked`; `Transfer-Encoding`
//    on HTTP/1.0; more than one `Transfer-Encoding` line; obsolete line
//    folding; a bare CR or a bare LF anywhere in the header; whitespace
//    between a field name and its colon; control characters in a value; a
//    malformed request line; an HTTP/1.1 request without exactly one `Host`;
//    a bad chunk size (not hex, more than 16 digits); a chunk line longer
//    than `chunk_line_limit` (unbounded chunk extensions); a chunk not
//    followed by CRLF.
//  - 417: an `Expect` other than `100-continue`.
//  - 505: an HTTP version other than 1.0 and 1.1.
//
// Identical repeated `Content-Length` lines are taken as one (RFC 9110
// §8.6). Empty lines before the request line are skipped (RFC 9112 §2.2),
// counted against the header limit. Trailer fields are checked and
// discarded: they never reach the request, so a trailer cannot add a header
// that the middleware did not see.
#pragma once

#include "portcullis/errc.hpp"
#include "portcullis/http.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace portcullis {

/// What `request_parser::parse` reached.
enum class parse_result : std::uint8_t {
  /// More bytes are needed; call again with them appended.
  need_more,
  /// The header is complete and checked; call `accept_body` next.
  header_done,
  /// The whole request has been read; `release()` hands it over.
  complete,
  /// The request is refused; `error()` says how. Close the connection
  /// after answering.
  rejected,
};

/// Why a request was refused: the status to answer, the library's code for
/// it and a short message for the JSON body (static text, safe to show).
struct rejection {
  http::status status = http::status::bad_request;
  errc reason = errc::bad_framing;
  std::string_view message;
};

class request_parser {
 public:
  /// The longest chunk-size line (size, extensions and CRLF) accepted.
  static constexpr std::size_t chunk_line_limit = 1024;

  /// `header_limit`: the largest header (request line, fields and the empty
  /// line), and also the budget for header plus trailers. Must not be 0.
  explicit request_parser(std::size_t header_limit = 8 * 1024) noexcept
      : header_limit_(header_limit == 0 ? 1 : header_limit) {}

  /// Parses from the start of `in`, the bytes not yet used. Sets `used` to
  /// the number of bytes taken from the front of `in`; the caller drops
  /// them and passes the rest (plus new bytes) to the next call. Stops
  /// after the header (`header_done`) so that the caller can pick a body
  /// limit, and after the request (`complete`), leaving any pipelined bytes
  /// unused.
  parse_result parse(std::string_view in, std::size_t& used);

  /// Sets the body limit once the header is done. Returns false, with a
  /// 413 in error(), when the declared `Content-Length` is above it; the
  /// body must then not be read. Chunked bodies are checked as they arrive.
  bool accept_body(std::uint64_t limit);

  /// The request read so far (its header after `header_done`).
  request& get() noexcept { return req_; }
  const request& get() const noexcept { return req_; }
  /// Moves the request out. Call after `complete`.
  request release() { return std::move(req_); }

  /// Why the request was refused, after `rejected`.
  const rejection& error() const noexcept { return error_; }

  /// True when the header asked for `100 Continue` (HTTP/1.1 only).
  bool expects_continue() const noexcept { return expect_continue_; }
  /// True when the body is chunked.
  bool chunked() const noexcept { return chunked_; }
  /// The declared `Content-Length`, or 0 when none was sent.
  std::uint64_t content_length() const noexcept { return content_length_; }
  /// True once the whole request has been read.
  bool done() const noexcept { return state_ == state::done; }
  /// True when no byte of a request has been taken yet.
  bool idle() const noexcept { return state_ == state::start && skipped_ == 0; }

  /// Forgets everything, ready for the next request on the connection.
  void reset() noexcept;

 private:
  enum class state : std::uint8_t {
    start,
    header,
    body_wait,  // header done, waiting for accept_body
    length,
    chunk_size,
    chunk_data,
    chunk_end,
    trailers,
    done,
    failed,
  };

  parse_result fail(http::status status, errc reason, std::string_view message);
  parse_result parse_header(std::string_view in, std::size_t& used);
  bool read_fields(std::string_view block);
  parse_result finish_header();
  parse_result parse_body(std::string_view in, std::size_t& used);

  request req_;
  rejection error_;
  std::size_t header_limit_;
  std::size_t scanned_ = 0;  // header bytes already checked for CR/LF rules
  std::size_t skipped_ = 0;  // empty lines skipped before the request line
  std::size_t header_size_ = 0;
  std::uint64_t body_limit_ = 0;
  std::uint64_t content_length_ = 0;
  std::uint64_t remaining_ = 0;  // of the current chunk or of the body
  std::uint64_t received_ = 0;   // body bytes so far
  std::size_t trailer_size_ = 0;
  state state_ = state::start;
  bool chunked_ = false;
  bool has_length_ = false;
  bool expect_continue_ = false;
};

}  // namespace portcullis
