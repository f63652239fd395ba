#include "portcullis/request_parser.hpp"

#include "portcullis/detail/ascii.hpp"

#include <algorithm>

namespace portcullis {
namespace {

using detail::iequals;
using detail::is_token;
using detail::trim_ows;

// field-vchar, SP or HTAB (RFC 9110 §5.5); obs-text is allowed, controls not.
constexpr bool is_value_char(unsigned char c) noexcept {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

// A Content-Length value: 1*DIGIT, at most 19 digits so that it fits in 64
// bits. Lists ("2, 3"), signs and inner spaces are refused.
bool parse_length(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 19) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits "name: value" and checks both parts. False on any invalid byte,
// on whitespace before the colon (RFC 9112 §5.1) and on obs-fold (a line
// that starts with whitespace, §5.2).
bool split_field(std::string_view line, std::string_view& name, std::string_view& value) noexcept {
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  name = line.substr(0, colon);
  if (!is_token(name)) return false;
  value = trim_ows(line.substr(colon + 1));
  return std::all_of(value.begin(), value.end(),
                     [](char c) { return is_value_char(static_cast<unsigned char>(c)); });
}

}  // namespace

void request_parser::reset() noexcept {
  req_ = {};
  error_ = {};
  scanned_ = 0;
  skipped_ = 0;
  header_size_ = 0;
  body_limit_ = 0;
  content_length_ = 0;
  remaining_ = 0;
  received_ = 0;
  trailer_size_ = 0;
  state_ = state::start;
  chunked_ = false;
  has_length_ = false;
  expect_continue_ = false;
}

parse_result request_parser::fail(http::status status, errc reason, std::string_view message) {
  error_ = {status, reason, message};
  state_ = state::failed;
  return parse_result::rejected;
}

parse_result request_parser::parse(std::string_view in, std::size_t& used) {
  used = 0;
  switch (state_) {
    case state::start:
    case state::header:
      return parse_header(in, used);
    case state::body_wait:
      return parse_result::header_done;
    case state::done:
      return parse_result::complete;
    case state::failed:
      return parse_result::rejected;
    default:
      return parse_body(in, used);
  }
}

parse_result request_parser::parse_header(std::string_view in, std::size_t& used) {
  // Empty lines before the request line are skipped (RFC 9112 §2.2), but
  // they count against the header limit so that they cannot go on forever.
  if (state_ == state::start) {
    while (in.size() - used >= 2 && in[used] == '\r' && in[used + 1] == '\n') {
      used += 2;
      skipped_ += 2;
    }
    if (skipped_ > header_limit_)
      return fail(http::status::request_header_fields_too_large, errc::header_too_large,
                  "request header too large");
    in.remove_prefix(used);
    if (in.empty() || (in.size() == 1 && in[0] == '\r')) return parse_result::need_more;
    state_ = state::header;
    scanned_ = 0;
  }

  // Find the empty line that ends the header, refusing a bare CR or LF on
  // the way (§2.2: they could end a line for one parser and not another).
  // scanned_ remembers where the last call stopped; it always sits at the
  // start of a line or inside one, never between a CR and its LF.
  const std::size_t budget = header_limit_ - std::min(header_limit_, skipped_);
  std::size_t end = 0;
  std::size_t i = scanned_;
  for (; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\n')
      return fail(http::status::bad_request, errc::bad_framing, "bare LF in request header");
    if (c != '\r') continue;
    if (i + 1 == in.size()) break;  // wait for the byte after the CR
    if (in[i + 1] != '\n')
      return fail(http::status::bad_request, errc::bad_framing, "bare CR in request header");
    // A line ends at i; an empty one (right after the previous CRLF) ends
    // the header. An LF met by the loop itself is always a bare one.
    if (i >= 2 && in[i - 1] == '\n' && in[i - 2] == '\r') {
      end = i + 2;
      break;
    }
    ++i;  // past the LF
    if (i + 1 > budget) break;
  }
  if (end == 0) {
    scanned_ = i;
    if (in.size() > budget)
      return fail(http::status::request_header_fields_too_large, errc::header_too_large,
                  "request header too large");
    return parse_result::need_more;
  }
  if (end > budget)
    return fail(http::status::request_header_fields_too_large, errc::header_too_large,
                "request header too large");

  header_size_ = end;
  used += end;
  if (!read_fields(in.substr(0, end - 2))) return parse_result::rejected;
  return finish_header();
}

bool request_parser::read_fields(std::string_view block) {
  auto next_line = [&block]() {
    auto e = block.find("\r\n");
    auto line = block.substr(0, e);
    block.remove_prefix(e == std::string_view::npos ? block.size() : e + 2);
    return line;
  };
  auto bad = [this](std::string_view message) {
    fail(http::status::bad_request, errc::bad_framing, message);
    return false;
  };

  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3).
  std::string_view line = next_line();
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return bad("malformed request line");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return bad("malformed request line");
  if (target.empty() || !std::all_of(target.begin(), target.end(), [](char c) {
        return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
      }))
    return bad("malformed request target");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
    return bad("malformed request line");
  if (version[5] != '1' || version[7] > '1') {
    fail(http::status::http_version_not_supported, errc::bad_framing, "HTTP version not supported");
    return false;
  }
  const unsigned v = version[7] == '1' ? 11 : 10;
  req_.method_string(method);
  req_.target(target);
  req_.version(v);

  // Fields, with the ones that decide framing checked as they come.
  unsigned te_lines = 0, host_lines = 0;
  std::string_view te_value;
  bool expect = false;
  while (!block.empty()) {
    line = next_line();
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t')
      return bad("obsolete line folding in request header");
    std::string_view name, value;
    if (!split_field(line, name, value)) return bad("malformed request header field");

    if (iequals(name, "content-length")) {
      std::uint64_t n = 0;
      if (!parse_length(value, n)) return bad("invalid Content-Length");
      if (has_length_ && n != content_length_) return bad("conflicting Content-Length values");
      has_length_ = true;
      content_length_ = n;
    } else if (iequals(name, "transfer-encoding")) {
      ++te_lines;
      te_value = value;
    } else if (iequals(name, "host")) {
      ++host_lines;
    } else if (iequals(name, "expect")) {
      if (!iequals(value, "100-continue")) {
        fail(http::status::expectation_failed, errc::bad_framing, "unsupported expectation");
        return false;
      }
      expect = true;
    }
    req_.insert(name, value);
  }

  // Framing (RFC 9112 §6.1, §6.3): exactly one way to find the body's end.
  if (te_lines > 1) return bad("several Transfer-Encoding lines");
  if (te_lines == 1) {
    if (v == 10) return bad("Transfer-Encoding on HTTP/1.0");
    if (has_length_) return bad("Content-Length together with Transfer-Encoding");
    if (!iequals(te_value, "chunked")) return bad("unsupported transfer coding");
    chunked_ = true;
  }
  // RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host; never two.
  if (host_lines > 1 || (v == 11 && host_lines == 0)) return bad("missing or repeated Host");
  expect_continue_ = expect && v == 11;
  return true;
}

parse_result request_parser::finish_header() {
  state_ = state::body_wait;
  return parse_result::header_done;
}

bool request_parser::accept_body(std::uint64_t limit) {
  if (state_ != state::body_wait) return state_ != state::failed;
  body_limit_ = limit;
  if (chunked_) {
    state_ = state::chunk_size;
    return true;
  }
  if (content_length_ > limit) {
    fail(http::status::payload_too_large, errc::body_too_large, "request body too large");
    return false;
  }
  remaining_ = content_length_;
  if (remaining_ == 0) {
    state_ = state::done;
    return true;
  }
  // Reserve what is declared, but not more than a modest amount up front: a
  // declared size costs nothing to send.
  req_.body().reserve(static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, 64 * 1024)));
  state_ = state::length;
  return true;
}

parse_result request_parser::parse_body(std::string_view in, std::size_t& used) {
  auto bad = [this](std::string_view message) {
    return fail(http::status::bad_request, errc::bad_framing, message);
  };
  auto take = [&](std::uint64_t wanted) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(wanted, in.size() - used));
    req_.body().append(in.data() + used, n);
    used += n;
    remaining_ -= n;
    received_ += n;
  };

  for (;;) {
    switch (state_) {
      case state::length:
        take(remaining_);
        if (remaining_ != 0) return parse_result::need_more;
        state_ = state::done;
        return parse_result::complete;

      case state::chunk_size: {
        // chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1), bounded in length.
        auto rest = in.substr(used);
        auto lf = rest.find('\n');
        if (lf == std::string_view::npos) {
          if (rest.size() >= chunk_line_limit) return bad("chunk line too long");
          return parse_result::need_more;
        }
        if (lf + 1 > chunk_line_limit) return bad("chunk line too long");
        if (lf == 0 || rest[lf - 1] != '\r') return bad("bare LF in chunked body");
        auto line = rest.substr(0, lf - 1);
        std::size_t digits = 0;
        std::uint64_t size = 0;
        for (; digits < line.size() && hex_value(line[digits]) >= 0; ++digits) {
          if (digits == 16) return bad("chunk size too large");
          size = (size << 4) | static_cast<std::uint64_t>(hex_value(line[digits]));
        }
        if (digits == 0) return bad("invalid chunk size");
        auto ext = line.substr(digits);
        auto ext_trimmed = trim_ows(ext);
        if (!ext_trimmed.empty() && ext_trimmed.front() != ';') return bad("invalid chunk size");
        if (!std::all_of(ext.begin(), ext.end(),
                         [](char c) { return is_value_char(static_cast<unsigned char>(c)); }))
          return bad("invalid chunk extension");
        used += lf + 1;
        if (size == 0) {
          state_ = state::trailers;
          break;
        }
        if (size > body_limit_ - std::min(body_limit_, received_))
          return fail(http::status::payload_too_large, errc::body_too_large,
                      "request body too large");
        remaining_ = size;
        state_ = state::chunk_data;
        break;
      }

      case state::chunk_data:
        take(remaining_);
        if (remaining_ != 0) return parse_result::need_more;
        state_ = state::chunk_end;
        break;

      case state::chunk_end: {
        auto rest = in.substr(used);
        if (!rest.empty() && rest[0] != '\r') return bad("chunk not followed by CRLF");
        if (rest.size() < 2) return parse_result::need_more;
        if (rest[1] != '\n') return bad("chunk not followed by CRLF");
        used += 2;
        state_ = state::chunk_size;
        break;
      }

      case state::trailers: {
        // Trailer fields share the header's budget and are dropped.
        auto rest = in.substr(used);
        const std::size_t budget = header_limit_ - std::min(header_limit_, header_size_ + skipped_);
        auto lf = rest.find('\n');
        if (lf == std::string_view::npos) {
          if (trailer_size_ + rest.size() > budget)
            return fail(http::status::request_header_fields_too_large, errc::header_too_large,
                        "request trailers too large");
          return parse_result::need_more;
        }
        if (lf == 0 || rest[lf - 1] != '\r') return bad("bare LF in trailers");
        trailer_size_ += lf + 1;
        if (trailer_size_ > budget)
          return fail(http::status::request_header_fields_too_large, errc::header_too_large,
                      "request trailers too large");
        auto line = rest.substr(0, lf - 1);
        used += lf + 1;
        if (line.empty()) {
          state_ = state::done;
          return parse_result::complete;
        }
        std::string_view name, value;
        if (line.front() == ' ' || line.front() == '\t' || !split_field(line, name, value))
          return bad("malformed trailer field");
        break;
      }

      case state::done:
        return parse_result::complete;
      default:
        return parse_result::rejected;
    }
  }
}

}  // namespace portcullis
