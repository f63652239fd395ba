// Fuzz target of request_parser, the reading layer's framing logic: raw
// client bytes, fed whole and in pieces the way sockets deliver them.
//
// Input: byte 0 picks the piece size (1..64), byte 1 the body limit
// (2^(b % 21) bytes), the rest is what a client sends. Properties, for any
// bytes:
//  - the parser stops (no loop without progress) and never takes more than
//    it was given;
//  - a body is never above the limit, and a body read by Content-Length is
//    exactly that long;
//  - fed in pieces, the parser reaches the same verdicts (requests and
//    refusals, in order) and the same requests as fed all at once: where a
//    socket splits the bytes must not change where a request ends;
//  - a request it accepted, written out again by Beast, is accepted again
//    as the same request (method, target, version, fields' count, body).
#include "portcullis/request_parser.hpp"

#include <boost/beast/http/write.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using portcullis::parse_result;
using portcullis::request;
using portcullis::request_parser;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "request_parser property broken: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) broken(what);
}

// What one request on the connection came to.
struct verdict {
  bool accepted = false;
  std::string method, target, body;
  unsigned version = 0;
  std::size_t fields = 0;

  bool operator==(const verdict&) const = default;
};

verdict accepted(const request& req) {
  std::size_t fields = 0;
  for (auto it = req.begin(); it != req.end(); ++it) ++fields;
  return {
      true,  std::string(req.method_string()), std::string(req.target()), req.body(), req.version(),
      fields};
}

// Feeds `input` in pieces of `step` bytes and returns the verdicts. The
// last request of the input is usually incomplete: it gives no verdict.
std::vector<verdict> drive(std::string_view input, std::size_t step, std::uint64_t limit,
                           std::size_t header_limit, std::vector<request>* requests = nullptr) {
  std::vector<verdict> out;
  request_parser parser{header_limit};
  std::string buffer;
  std::size_t fed = 0;
  // Each round uses bytes, feeds bytes or ends: the bound is generous.
  for (std::size_t rounds = 0; rounds < 4 * (input.size() + 8); ++rounds) {
    std::size_t used = 0;
    const auto r = parser.parse(buffer, used);
    check(used <= buffer.size(), "used more than given");
    buffer.erase(0, used);
    switch (r) {
      case parse_result::header_done:
        if (!parser.accept_body(limit)) {
          check(parser.error().status == boost::beast::http::status::payload_too_large,
                "accept_body refused without a 413");
          check(parser.content_length() > limit, "413 for a length within the limit");
          out.push_back({});
          return out;
        }
        continue;
      case parse_result::rejected:
        check(!parser.error().message.empty(), "a refusal without a message");
        out.push_back({});
        return out;
      case parse_result::complete: {
        check(parser.done(), "complete but not done");
        const bool chunked = parser.chunked();
        const std::uint64_t length = parser.content_length();
        request req = parser.release();
        check(req.body().size() <= limit, "body above the limit");
        check(chunked || req.body().size() == length, "body not as long as Content-Length");
        out.push_back(accepted(req));
        if (requests != nullptr) requests->push_back(std::move(req));
        parser.reset();
        continue;
      }
      case parse_result::need_more:
        break;
    }
    if (fed == input.size()) return out;
    const std::size_t n = std::min(step, input.size() - fed);
    buffer.append(input.substr(fed, n));
    fed += n;
  }
  broken("no progress");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t step = 1 + data[0] % 64;
  const std::uint64_t limit = std::uint64_t{1} << (data[1] % 21);
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  std::vector<request> requests;
  const auto whole = drive(input, input.size() + 1, limit, 1024, &requests);
  const auto pieces = drive(input, step, limit, 1024);
  check(whole == pieces, "verdicts depend on how the bytes were split");

  // What was accepted is accepted again, the same, once Beast writes it.
  for (const auto& req : requests) {
    std::ostringstream written;
    written << req;
    // Beast writes "name: value": a larger header budget for the spaces.
    const auto again = drive(written.str(), written.str().size() + 1, limit, 4096);
    check(!again.empty() && again.front() == accepted(req), "re-written request differs");
  }
  return 0;
}
