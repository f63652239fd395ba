// portcullis/versioning.hpp — API versions: which one a request asks for,
// refusing unknown ones, and announcing deprecation and sunset.
//
// A version is chosen in one of three ways (`version_source`):
//
//     path        GET /v2/items                      (routes are "/v2/items")
//     header      GET /items  Accept-Version: v2
//     media_type  GET /items  Accept: application/json; version=2
//
//     using namespace std::chrono;
//     b.use(std::make_shared<portcullis::versioning>(portcullis::versioning_options{
//         .versions = {{.name = "v1",
//                       .deprecated = sys_days{2026y / 6 / 1},
//                       .sunset = sys_days{2027y / 1 / 1},
//                       .successor = "/v2/"},
//                      {.name = "v2"}}}));
//
// The handler reads the chosen version from `ctx.api_version`. An unknown
// version is answered with JSON that names the supported ones (404 for a
// path, 400 for a header, by default):
//
//     {"error":"unknown API version; supported: v1, v2","details":{"supported":["v1","v2"]}}
//
// A deprecated version's responses carry `Deprecation: @1780272000`
// (RFC 9745), `Sunset: Fri, 01 Jan 2027 00:00:00 GMT` (RFC 8594) and
// `Link: </v2/>; rel="successor-version"` (RFC 5829), so clients and their
// tooling learn of the change before it breaks them. In the header modes
// responses also carry `Vary` for the header, so shared caches keep the
// versions apart.
#pragma once

#include "portcullis/counters.hpp"
#include "portcullis/middleware.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace portcullis {

struct api_version {
  /// The name in paths and headers: "v1", "2024-06-01". Letters, digits,
  /// '.', '_' and '-'; unique, compared case-insensitively.
  std::string name;
  /// Set when the version is (or will be, from that time) deprecated:
  /// sent as `Deprecation: @<seconds since the epoch>`.
  std::optional<std::chrono::sys_seconds> deprecated;
  /// When the version stops working: sent as `Sunset: <HTTP-date>`. Must
  /// not be before `deprecated`.
  std::optional<std::chrono::sys_seconds> sunset;
  /// A URI of the version that replaces it: `Link: <…>; rel="successor-version"`.
  std::string successor;
  /// A URI of a page about the deprecation: `Link: <…>; rel="deprecation"`
  /// (RFC 9745 §3).
  std::string deprecation_link;
};

/// Where a request names its version.
enum class version_source {
  /// The first path segment ("/v1/…"). Paths whose first segment does not
  /// look like a version (`v` and a digit, as in "v3" or "v2.1") pass with
  /// no version: "/health" stays unversioned. A version-like segment that
  /// is not configured is refused.
  path,
  /// A request header (`header`, "Accept-Version" by default). "v2" and
  /// "2" both select a version named "v2".
  header,
  /// A parameter of the `Accept` media type ("application/json; version=2"),
  /// the first media range that has one. "2" and "v2" select "v2".
  media_type,
};

struct versioning_options {
  /// The supported versions. At least one.
  std::vector<api_version> versions;
  version_source source = version_source::path;
  /// The header of `version_source::header`.
  std::string header = "Accept-Version";
  /// The media-type parameter of `version_source::media_type`.
  std::string parameter = "version";
  /// For the header modes: the version of a request that names none. When
  /// empty, such a request is refused like an unknown version.
  std::string default_version;
  /// The status for an unknown version: 404 in path mode, 400 otherwise
  /// when unset.
  std::optional<http::status> unknown_status;
  /// The instance name in counters.
  std::string name = "api";
};

/// Selects the API version of each request. Counters: `selected`,
/// `deprecated` (served by a deprecated version), `unknown` (refused).
/// Throws config_error for no versions, an invalid or repeated name, a
/// default that is not a listed version, a sunset before the deprecation,
/// or a link with characters a Link header cannot carry.
class versioning final : public middleware {
 public:
  explicit versioning(versioning_options options);

  asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const override;
  const counter_set* counters() const noexcept override { return &counters_; }

 private:
  struct compiled {
    const api_version* version;
    std::vector<std::pair<std::string, std::string>> headers;  // for responses
  };
  const compiled* find(std::string_view name) const noexcept;
  response unknown(const request& req, const context& ctx) const;

  versioning_options options_;
  std::vector<compiled> versions_;
  std::string supported_;  // "v1, v2"
  mutable counter_set counters_;
};

/// Formats a time as an IMF-fixdate (RFC 9110 §5.6.7):
/// "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(std::chrono::sys_seconds t);

}  // namespace portcullis
