// The shared validation cases (../shared/cases/validation) sent to the
// reference server over real HTTP: each JSON body to POST /users and each
// query string to GET /items gets the status the case names, and a 400 says
// which field failed and how (the `details` of the error body).
#include "support/cases.hpp"
#include "support/reference_server.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <string>

namespace portcullis {
namespace {

using test::reference_server;
using json = nlohmann::json;
namespace bh = boost::beast::http;

// A case's "status" is one number or a list of acceptable ones.
bool status_matches(const json& expected, unsigned actual) {
  if (expected.is_array()) {
    for (const auto& s : expected)
      if (s.get<unsigned>() == actual) return true;
    return false;
  }
  return expected.get<unsigned>() == actual;
}

// The fields named in a validation error body's details.
std::set<std::string> fields_of(const json& body) {
  std::set<std::string> out;
  if (body.contains("details") && body["details"].is_array())
    for (const auto& d : body["details"])
      if (d.contains("field")) out.insert(d["field"].get<std::string>());
  return out;
}

// Checks an answer against a case: status, and for a 400 the error body
// (JSON, an "error", and the fields and code the case names).
void check(const json& c, const test::http_response& res) {
  SCOPED_TRACE(c["id"].get<std::string>() + ": " + res.body().substr(0, 400));
  ASSERT_TRUE(status_matches(c["status"], res.result_int()))
      << "status " << res.result_int() << ", expected " << c["status"];
  if (res.result_int() < 400) return;
  auto body = json::parse(res.body(), nullptr, false);
  ASSERT_TRUE(body.is_object()) << "every refusal is a JSON object";
  EXPECT_TRUE(body["error"].is_string());
  if (c.contains("fields")) {
    std::set<std::string> want;
    for (const auto& f : c["fields"]) want.insert(f.get<std::string>());
    EXPECT_EQ(fields_of(body), want);
  }
  if (c.contains("field")) {
    bool found = false;
    for (const auto& d : body.value("details", json::array())) {
      if (d.value("field", "") != c["field"]) continue;
      found = true;
      if (c.contains("code")) EXPECT_EQ(d.value("code", ""), c["code"]);
    }
    EXPECT_TRUE(found) << "no detail for field " << c["field"];
  }
}

TEST(secure_api_validation, every_body_case_over_http) {
  auto file = test::load_cases("validation/bodies.json");
  test::expect_case_ids(file["cases"], {"ok", "both-bad", "wrong-type", "unknown-key-stripped",
                                        "duplicate-key", "invalid-json", "deep",
                                        "not-json-content-type", "code-points", "lone-surrogate"});
  reference_server srv{R"({"threads": 1})"};

  for (const auto& c : file["cases"]) {
    const std::string id = c["id"];
    std::string body = c["body"];
    if (id == "deep") body = std::string(100000, '[') + std::string(100000, ']');
    const std::string type = c.value("content_type", "application/json");
    auto res = srv.request(bh::verb::post, "/users", body, {{"Content-Type", type}});
    check(c, res);

    if (id == "unknown-key-stripped") {
      // The extra key never reached the handler: the user has no "admin".
      auto user = json::parse(res.body());
      EXPECT_FALSE(user.contains("admin")) << res.body();
    }
    if (id == "invalid-json") {
      // Where it broke, in the details; no parser internals in the text.
      auto err = json::parse(res.body());
      EXPECT_EQ(err["details"][0]["line"], 1) << res.body();
      EXPECT_EQ(res.body().find("nlohmann"), std::string::npos);
      EXPECT_EQ(res.body().find("parse_error"), std::string::npos);
    }
  }
}

TEST(secure_api_validation, every_query_case_over_http) {
  auto file = test::load_cases("validation/query.json");
  test::expect_case_ids(
      file["cases"],
      {"defaults", "coerced", "not-a-number", "trailing-garbage", "overflow", "hex", "fraction",
       "too-big", "scalar-duplicate", "bad-percent", "two-errors", "proto-key", "param-flood",
       "bool-false", "bool-garbage", "array-limit", "depth"});
  // GET /items also takes `active` (a boolean) and `ids` (at most 100
  // integers), so the cases with a schema of their own run on it too; the
  // parser's limits (depth 5, array index 1 000, 1 000 parameters) are the
  // library's defaults.
  reference_server srv{R"({"threads": 1})"};

  for (const auto& c : file["cases"]) {
    const std::string id = c["id"];
    std::string query = c["query"];
    if (id == "param-flood") {
      query.clear();
      for (int i = 1; i <= 1001; ++i) query += (i > 1 ? "&x" : "x") + std::to_string(i) + "=1";
    }
    auto res = srv.request(bh::verb::get, query.empty() ? "/items" : "/items?" + query);
    check(c, res);
    if (res.result() != bh::status::ok) continue;

    auto body = json::parse(res.body());
    if (c.contains("value"))
      for (const auto& [k, v] : c["value"].items()) EXPECT_EQ(body[k], v) << id << ": " << k;
    if (id == "proto-key") {
      EXPECT_EQ(body["page"], 1);
      EXPECT_FALSE(body.contains("__proto__"));
    }
  }
}

}  // namespace
}  // namespace portcullis
