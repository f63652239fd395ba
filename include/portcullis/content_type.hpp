// portcullis/content_type.hpp — which media types a route accepts, and
// what happens to a body with a Content-Encoding.
//
// `content_type_allowlist` answers 415 to a request whose body is not of
// an allowed type, before any parser sees it:
//
//     b.use("/api", std::make_shared<portcullis::content_type_allowlist>(
//         portcullis::content_type_options{.allowed = {"application/json"}}));
//     b.route(http::verb::post, "/upload", upload,
//             {.body_limit = 10 << 20,
//              .middleware = {std::make_shared<portcullis::content_type_allowlist>(
//                  portcullis::content_type_options{.allowed = {"multipart/form-data"}})}});
//
// `content_encoding` handles `Content-Encoding: gzip` and friends. By
// default it refuses them (415 with `Accept-Encoding: identity`, RFC 7694).
// A route that wants compressed uploads lets it decompress, with a limit
// on the decompressed size, so that a 10 KB gzip bomb cannot become 10 GB
// in memory; the decompressed body replaces the compressed one:
//
//     std::make_shared<portcullis::content_encoding>(portcullis::content_encoding_options{
//         .policy = portcullis::coding_policy::decompress, .max_decompressed = 1 << 20});
//
// Put `content_encoding` before `content_type_allowlist` and any body
// parser: what they see should be the decoded body.
#pragma once

#include "portcullis/counters.hpp"
#include "portcullis/middleware.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

/// The media type of a Content-Type value: "type/subtype" in lower case,
/// parameters dropped; empty when the value is not a media type
/// (RFC 9110 §8.3.1).
std::string media_type_of(std::string_view content_type);

/// The value of parameter `name` of a Content-Type value (unquoted), or
/// nullopt when absent or malformed.
std::optional<std::string> media_type_parameter(std::string_view content_type,
                                                std::string_view name);

struct content_type_options {
  /// Accepted media types: "application/json", "type/*", or "*/*". Case
  /// does not matter; parameters (charset) are not compared.
  std::vector<std::string> allowed = {"application/json"};
  /// Also check requests without a body (a Content-Type on a GET is
  /// harmless, so by default only requests that carry a body are checked).
  bool check_empty_bodies = false;
  /// The instance name in counters.
  std::string name = "content_type";
};

/// Refuses bodies whose Content-Type is missing, malformed or not allowed:
/// 415 `{"error":"unsupported media type","details":{"accepted":[…]}}`,
/// with `Accept-Post` or `Accept-Patch` naming the accepted types for those
/// methods. A request carries a body when it has a non-zero Content-Length,
/// a Transfer-Encoding, or a non-empty body.
///
/// Counters: `accepted`, `refused`. Throws config_error for an empty list
/// or an entry that is not a media type or range.
class content_type_allowlist final : public middleware {
 public:
  explicit content_type_allowlist(content_type_options options = {});

  asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const override;
  const counter_set* counters() const noexcept override { return &counters_; }

  /// True when `content_type` (a header value) is allowed.
  bool allows(std::string_view content_type) const;

 private:
  content_type_options options_;
  std::string accept_list_;  // "application/json, multipart/form-data"
  mutable counter_set counters_;
};

/// What `content_encoding` does with an encoded body.
enum class coding_policy {
  /// 415 with `Accept-Encoding: identity`.
  refuse,
  /// Decode gzip, x-gzip or deflate, within `max_decompressed`.
  decompress,
};

struct content_encoding_options {
  coding_policy policy = coding_policy::refuse;
  /// The largest decoded body, in bytes (413 past it). Decoding stops as
  /// soon as the output passes it: memory use is bounded by the limit.
  std::uint64_t max_decompressed = 1 << 20;
  /// The instance name in counters.
  std::string name = "content_encoding";
};

/// Refuses or decodes request bodies with a Content-Encoding.
///
/// - No Content-Encoding, or `identity`: passed through.
/// - `refuse`: 415 `{"error":"content encoding not supported"}` with
///   `Accept-Encoding: identity`.
/// - `decompress`: one coding of gzip, x-gzip or deflate (zlib-wrapped, or
///   raw as some clients send it) is decoded; the body is replaced, the
///   Content-Encoding removed and Content-Length set. Stacked codings
///   ("gzip, gzip") and others (br, zstd) get 415 with
///   `Accept-Encoding: gzip, deflate, identity`; a decoded size past the
///   limit gets 413; corrupt or truncated data, or bytes after the end of
///   the stream, get 400.
///
/// Counters: `passed`, `decoded`, `refused`, `too_large`, `corrupt`.
/// Throws config_error for a zero limit.
class content_encoding final : public middleware {
 public:
  explicit content_encoding(content_encoding_options options = {});

  asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const override;
  const counter_set* counters() const noexcept override { return &counters_; }

 private:
  content_encoding_options options_;
  mutable counter_set counters_;
};

/// The outcome of `decompress_body`.
enum class decompress_status { ok, too_large, corrupt, unsupported };

/// Decodes `data` of coding `coding` ("gzip", "x-gzip", "deflate") into
/// `out`, stopping once `out` would pass `limit` bytes.
decompress_status decompress_body(std::string_view coding, std::string_view data,
                                  std::uint64_t limit, std::string& out);

}  // namespace portcullis
