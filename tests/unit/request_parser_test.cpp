#include "portcullis/request_parser.hpp"

#include "support/cases.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portcullis {
namespace {

// What the parser made of some bytes fed in pieces of `step` bytes (0: all
// at once), with `limit` as every request's body limit.
struct outcome {
  std::vector<request> requests;
  std::optional<rejection> refused;
  bool header_seen = false;
  std::size_t left = 0;  // bytes not used when parsing stopped
};

outcome parse_all(std::string_view bytes, std::uint64_t limit = 1024, std::size_t step = 0,
                  std::size_t header_limit = 8 * 1024) {
  outcome out;
  request_parser p{header_limit};
  std::string buffer;
  std::size_t fed = 0;
  for (;;) {
    std::size_t used = 0;
    auto r = p.parse(buffer, used);
    buffer.erase(0, used);
    if (r == parse_result::header_done) {
      out.header_seen = true;
      if (!p.accept_body(limit)) {
        out.refused = p.error();
        break;
      }
      continue;
    }
    if (r == parse_result::complete) {
      out.requests.push_back(p.release());
      p.reset();
      continue;
    }
    if (r == parse_result::rejected) {
      out.refused = p.error();
      break;
    }
    if (fed == bytes.size()) break;
    std::size_t n = step == 0 ? bytes.size() - fed : std::min(step, bytes.size() - fed);
    buffer.append(bytes.substr(fed, n));
    fed += n;
  }
  out.left = buffer.size() + (bytes.size() - fed);
  return out;
}

// Expands the case file's placeholders: "<2048 bytes>", "<9000 x 'a'>".
std::string expand(std::string raw) {
  for (;;) {
    auto open = raw.find('<');
    if (open == std::string::npos) break;
    auto close = raw.find('>', open);
    auto inner = raw.substr(open + 1, close - open - 1);
    std::size_t n = std::stoul(inner);
    char fill = inner.find("x '") != std::string::npos ? inner[inner.find("x '") + 3] : 'x';
    raw.replace(open, close - open + 1, std::string(n, fill));
  }
  return raw;
}

TEST(request_parser, framing_cases_from_the_shared_file) {
  auto file = test::load_cases("framing/requests.json");
  const auto& cases = file.at("cases");
  test::expect_case_ids(
      cases, {"declared-body-too-large", "chunked-too-large", "cl-and-te", "two-different-cl",
              "cl-list", "negative-cl", "te-not-final-chunked", "te-obfuscated", "obs-fold",
              "bare-lf-in-header-value", "header-too-large", "bad-chunk-size",
              "chunk-size-overflow", "pipelined-order", "expect-continue-over-limit"});
  for (const auto& c : cases) {
    auto raw = expand(c.at("raw").get<std::string>());
    // Whole, and one byte at a time: the answer must not depend on how the
    // bytes arrive.
    for (std::size_t step : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
      SCOPED_TRACE(c.at("id").get<std::string>() + " step " + std::to_string(step));
      auto got = parse_all(raw, 1024, step);
      if (c.at("expect_status").is_array()) {
        ASSERT_FALSE(got.refused) << got.refused->message;
        EXPECT_EQ(got.requests.size(), c.at("expect_status").size());
      } else {
        ASSERT_TRUE(got.refused);
        EXPECT_EQ(static_cast<int>(got.refused->status), c.at("expect_status").get<int>());
      }
    }
  }
}

TEST(request_parser, declared_body_is_refused_before_any_body_byte) {
  request_parser p;
  std::string head = "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 1073741824\r\n\r\n";
  std::size_t used = 0;
  ASSERT_EQ(p.parse(head + "{\"a\":", used), parse_result::header_done);
  EXPECT_EQ(used, head.size());  // the body bytes are left alone
  EXPECT_FALSE(p.accept_body(1024));
  EXPECT_EQ(p.error().status, http::status::payload_too_large);
  EXPECT_EQ(p.error().reason, errc::body_too_large);
}

TEST(request_parser, reads_a_length_body_and_leaves_the_next_request) {
  auto got = parse_all(
      "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /x HTTP/1.1\r\nHost: "
      "a\r\n\r\n");
  ASSERT_FALSE(got.refused);
  ASSERT_EQ(got.requests.size(), 2u);
  EXPECT_EQ(got.requests[0].body(), "hello");
  EXPECT_EQ(got.requests[0].method(), http::verb::post);
  EXPECT_EQ(got.requests[1].target(), "/x");
}

TEST(request_parser, chunked_body_with_extensions_and_trailers) {
  std::string raw =
      "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  for (std::size_t step : {0, 1, 3}) {
    auto got = parse_all(raw, 1024, step);
    ASSERT_FALSE(got.refused) << got.refused->message;
    ASSERT_EQ(got.requests.size(), 1u);
    EXPECT_EQ(got.requests[0].body(), "hello world");
    // Trailers are dropped: they never look like header fields.
    EXPECT_EQ(got.requests[0].count("X-Trailer"), 0u);
  }
}

TEST(request_parser, chunked_body_over_the_limit_before_the_chunk_is_read) {
  request_parser p;
  std::string raw = "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::size_t used = 0;
  ASSERT_EQ(p.parse(raw, used), parse_result::header_done);
  ASSERT_TRUE(p.accept_body(10));
  EXPECT_EQ(p.parse("8\r\n12345678\r\n", used), parse_result::need_more);
  EXPECT_EQ(p.parse("3\r\n", used), parse_result::rejected);
  EXPECT_EQ(p.error().status, http::status::payload_too_large);
}

TEST(request_parser, unbounded_chunk_extension_is_refused) {
  std::string raw = "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;" +
                    std::string(request_parser::chunk_line_limit, 'e');
  auto got = parse_all(raw);
  ASSERT_TRUE(got.refused);
  EXPECT_EQ(got.refused->status, http::status::bad_request);
}

TEST(request_parser, trailers_share_the_header_budget) {
  std::string head = "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string raw = head + "0\r\nX-T: " + std::string(300, 't') + "\r\n\r\n";
  auto got = parse_all(raw, 1024, 0, 256);
  ASSERT_TRUE(got.refused);
  EXPECT_EQ(got.refused->status, http::status::request_header_fields_too_large);
  EXPECT_EQ(parse_all(raw, 1024, 0, 1024).requests.size(), 1u);
}

TEST(request_parser, framing_rules_beyond_the_case_file) {
  struct item {
    std::string raw;
    http::status status;
  };
  const std::vector<item> refused = {
      {"POST /u HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       http::status::bad_request},
      {"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
       "chunked\r\n\r\n",
       http::status::bad_request},
      {"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
       http::status::bad_request},
      {"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
       http::status::bad_request},
      {"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", http::status::bad_request},
      {"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
       http::status::bad_request},
      {"GET /a HTTP/1.1\r\n\r\n", http::status::bad_request},                          // no Host
      {"GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", http::status::bad_request},    // two
      {"GET /a HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", http::status::bad_request},         // bare CR
      {"GET /a HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", http::status::bad_request},  // CTL
      {"GET  /a HTTP/1.1\r\nHost: a\r\n\r\n", http::status::bad_request},
      {"GET /a HTTP/2.0\r\nHost: a\r\n\r\n", http::status::http_version_not_supported},
      {"GET /a HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", http::status::expectation_failed},
      {"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX",
       http::status::bad_request},
      {"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n",
       http::status::bad_request},
  };
  for (const auto& c : refused) {
    SCOPED_TRACE(c.raw);
    auto got = parse_all(c.raw);
    ASSERT_TRUE(got.refused);
    EXPECT_EQ(got.refused->status, c.status);
  }

  // Accepted: identical repeated Content-Length, empty lines before the
  // request line, HTTP/1.0 without Host, case-insensitive names.
  const std::vector<std::string> accepted = {
      "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
      "\r\n\r\nGET /a HTTP/1.1\r\nhost: a\r\n\r\n",
      "GET /a HTTP/1.0\r\n\r\n",
      "POST /u HTTP/1.1\r\nHost: a\r\ntransfer-encoding: CHUNKED\r\n\r\n0\r\n\r\n",
  };
  for (const auto& raw : accepted) {
    SCOPED_TRACE(raw);
    auto got = parse_all(raw);
    EXPECT_FALSE(got.refused) << (got.refused ? got.refused->message : "");
    EXPECT_EQ(got.requests.size(), 1u);
  }
}

TEST(request_parser, header_limit_counts_the_whole_header) {
  std::string line = "GET /a HTTP/1.1\r\nHost: a\r\n";
  std::string fill = "X: " + std::string(200 - line.size() - 3 - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ((line + fill).size(), 200u);
  EXPECT_FALSE(parse_all(line + fill, 0, 0, 200).refused);
  auto over = parse_all(line + "X" + fill, 0, 0, 200);
  ASSERT_TRUE(over.refused);
  EXPECT_EQ(over.refused->status, http::status::request_header_fields_too_large);
  // A header that never ends is refused as soon as it passes the limit.
  auto endless = parse_all("GET /a HTTP/1.1\r\nX: " + std::string(300, 'a'), 0, 0, 200);
  ASSERT_TRUE(endless.refused);
  EXPECT_EQ(endless.refused->status, http::status::request_header_fields_too_large);
}

TEST(request_parser, expect_continue_is_reported) {
  request_parser p;
  std::size_t used = 0;
  ASSERT_EQ(
      p.parse("PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
              used),
      parse_result::header_done);
  EXPECT_TRUE(p.expects_continue());
  EXPECT_TRUE(p.accept_body(10));
  EXPECT_EQ(p.parse("x", used), parse_result::complete);
  EXPECT_EQ(p.release().body(), "x");
}

}  // namespace
}  // namespace portcullis
