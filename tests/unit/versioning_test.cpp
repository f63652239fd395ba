#include "portcullis/versioning.hpp"

#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"
#include "portcullis/errc.hpp"

#include <gtest/gtest.h>

namespace portcullis {
namespace {

using namespace std::chrono;

// A handler that answers with the version it was given.
handler echo_version() {
  return [](request& req, context& ctx) -> asio::awaitable<response> {
    response res{http::status::ok, req.version()};
    res.body() = "version=" + std::string(ctx.api_version);
    res.prepare_payload();
    co_return res;
  };
}

std::vector<api_version> two_versions() {
  return {{.name = "v1",
           .deprecated = sys_days{2026y / 6 / 1},
           .sunset = sys_days{2027y / 1 / 1} + hours(12),
           .successor = "/v2/",
           .deprecation_link = "https://docs.example.com/v1-deprecation"},
          {.name = "v2"}};
}

chain app(versioning_options o) {
  chain::builder b;
  b.use(std::make_shared<versioning>(std::move(o)));
  b.route(http::verb::get, "/v1/items", echo_version());
  b.route(http::verb::get, "/v2/items", echo_version());
  b.route(http::verb::get, "/v3/items", echo_version());
  b.route(http::verb::get, "/items", echo_version());
  b.route(http::verb::get, "/health", echo_version());
  return std::move(b).build();
}

response run(const chain& c, std::string target,
             std::vector<std::pair<std::string, std::string>> headers = {}) {
  request req{http::verb::get, target, 11};
  req.set(http::field::host, "api.example.com");
  for (const auto& [n, v] : headers) req.insert(n, v);
  context ctx;
  return run_blocking(c, req, ctx);
}

std::vector<std::string> all(const response& res, std::string_view name) {
  std::vector<std::string> out;
  for (auto [it, end] = res.equal_range(name); it != end; ++it) out.emplace_back(it->value());
  return out;
}

TEST(versioning, path_mode_selects_refuses_and_lets_unversioned_paths_pass) {
  auto c = app({.versions = two_versions()});
  auto v2 = run(c, "/v2/items");
  EXPECT_EQ(v2.body(), "version=v2");
  EXPECT_EQ(v2.count("Deprecation"), 0u);
  EXPECT_EQ(v2.count("Sunset"), 0u);
  EXPECT_EQ(v2.count(http::field::vary), 0u);

  // v3 has a route, but is not a supported version: refused, naming both.
  auto v3 = run(c, "/v3/items");
  EXPECT_EQ(v3.result(), http::status::not_found);
  EXPECT_EQ(nlohmann::json::parse(v3.body()),
            nlohmann::json::parse(R"({"error":"unknown API version; supported: v1, v2",
                                      "details":{"supported":["v1","v2"]}})"));
  EXPECT_EQ(run(c, "/v2.1/items").result(), http::status::not_found);
  // Versions compare case-insensitively; routes do not, so this is the
  // chain's own 404 for a path no route has.
  EXPECT_EQ(run(c, "/V2/items").body(), R"({"error":"not found"})");

  // Unversioned paths pass with no version.
  EXPECT_EQ(run(c, "/health").body(), "version=");
  EXPECT_EQ(run(c, "/items").body(), "version=");

  auto counters = c.counters()[1];
  EXPECT_EQ(counters->value("selected"), 1u + 1u);  // v2 and V2
  EXPECT_EQ(counters->value("unknown"), 2u);
}

TEST(versioning, deprecated_version_announces_deprecation_sunset_and_successor) {
  auto c = app({.versions = two_versions()});
  auto v1 = run(c, "/v1/items");
  EXPECT_EQ(v1.body(), "version=v1");
  // 2026-06-01T00:00:00Z; RFC 9745 structured-field date.
  EXPECT_EQ(v1["Deprecation"], "@1780272000");
  EXPECT_EQ(v1["Sunset"], "Fri, 01 Jan 2027 12:00:00 GMT");
  EXPECT_EQ(all(v1, "Link"),
            (std::vector<std::string>{
                R"(</v2/>; rel="successor-version")",
                R"(<https://docs.example.com/v1-deprecation>; rel="deprecation")"}));
  EXPECT_EQ(c.counters()[1]->value("deprecated"), 1u);
}

TEST(versioning, header_mode) {
  auto c = app({.versions = two_versions(), .source = version_source::header});
  auto res = run(c, "/items", {{"Accept-Version", "v2"}});
  EXPECT_EQ(res.body(), "version=v2");
  EXPECT_EQ(res[http::field::vary], "Accept-Version");
  EXPECT_EQ(run(c, "/items", {{"Accept-Version", " 2 "}}).body(), "version=v2");
  EXPECT_EQ(run(c, "/items", {{"accept-version", "V1"}}).body(), "version=v1");
  EXPECT_EQ(run(c, "/items", {{"Accept-Version", "1"}})["Deprecation"], "@1780272000");

  auto unknown = run(c, "/items", {{"Accept-Version", "v9"}});
  EXPECT_EQ(unknown.result(), http::status::bad_request);
  EXPECT_EQ(unknown[http::field::vary], "Accept-Version");
  EXPECT_NE(unknown.body().find("supported: v1, v2"), std::string::npos);
  // Missing without a default; two different values are ambiguous.
  EXPECT_EQ(run(c, "/items").result(), http::status::bad_request);
  EXPECT_EQ(run(c, "/items", {{"Accept-Version", "v1"}, {"Accept-Version", "v2"}}).result(),
            http::status::bad_request);

  // A default version for requests that name none; a custom header.
  auto d = app({.versions = two_versions(),
                .source = version_source::header,
                .header = "X-API-Version",
                .default_version = "v2"});
  EXPECT_EQ(run(d, "/items").body(), "version=v2");
  EXPECT_EQ(run(d, "/items", {{"X-API-Version", "v1"}}).body(), "version=v1");
  EXPECT_EQ(run(d, "/items", {{"X-API-Version", "v1"}})[http::field::vary], "X-API-Version");
}

TEST(versioning, media_type_mode) {
  auto c = app({.versions = two_versions(),
                .source = version_source::media_type,
                .default_version = "v2",
                .unknown_status = http::status::not_acceptable});
  EXPECT_EQ(run(c, "/items", {{"Accept", "application/json; version=1"}}).body(), "version=v1");
  EXPECT_EQ(run(c, "/items", {{"Accept", "application/vnd.example+json;Version=\"v1\""}}).body(),
            "version=v1");
  EXPECT_EQ(
      run(c, "/items", {{"Accept", "text/html;q=0.9, application/json;version=1;q=1"}}).body(),
      "version=v1");
  EXPECT_EQ(run(c, "/items", {{"Accept", "application/json"}}).body(), "version=v2");
  EXPECT_EQ(run(c, "/items").body(), "version=v2");
  auto res = run(c, "/items", {{"Accept", "application/json; version=2"}});
  EXPECT_EQ(res[http::field::vary], "Accept");
  auto bad = run(c, "/items", {{"Accept", "application/json; version=7"}});
  EXPECT_EQ(bad.result(), http::status::not_acceptable);
  EXPECT_NE(bad.body().find(R"("supported":["v1","v2"])"), std::string::npos) << bad.body();
}

TEST(versioning, http_date_is_an_imf_fixdate) {
  EXPECT_EQ(http_date(sys_days{1994y / 11 / 6} + hours(8) + minutes(49) + seconds(37)),
            "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(http_date(sys_seconds{}), "Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST(versioning, configuration_errors_name_the_problem) {
  auto expect = [](versioning_options o, std::string_view part) {
    try {
      versioning v{std::move(o)};
      ADD_FAILURE() << "no error for " << part;
    } catch (const config_error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect({}, "versions is empty");
  expect({.versions = {{.name = "v1"}, {.name = "V1"}}}, "'V1' is listed twice");
  expect({.versions = {{.name = "v 1"}}}, "version name 'v 1'");
  expect({.versions = {{.name = "2024-06"}}}, "cannot be a path prefix");
  expect({.versions = {{.name = "v1",
                        .deprecated = sys_days{2026y / 6 / 1},
                        .sunset = sys_days{2026y / 1 / 1}}}},
         "sunset before its deprecation");
  expect({.versions = {{.name = "v1", .successor = "/v2/> ; rel=x"}}}, "a link of version 'v1'");
  expect({.versions = {{.name = "v1"}}, .source = version_source::header, .default_version = "v3"},
         "default_version 'v3' is not one of the versions (v1)");
  expect({.versions = {{.name = "v1"}}, .default_version = "v1"}, "header modes only");
  expect({.versions = {{.name = "v1"}}, .source = version_source::header, .header = "Bad Name"},
         "header 'Bad Name'");
  expect({.versions = {{.name = "v1"}}, .unknown_status = http::status::ok}, "4xx");
}

}  // namespace
}  // namespace portcullis
