#include "portcullis/validate.hpp"

#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"
#include "portcullis/errc.hpp"
#include "support/cases.hpp"

#include <gtest/gtest.h>

#include <set>

namespace portcullis {
namespace {

using json = nlohmann::json;

// The reference server's schemas (examples/secure_api).
schema users_schema() {
  return schema::object({
      {"email", schema::string().email().max(255)},
      {"password", schema::string().min(12).max(128)},
      {"name", schema::string().min(1).max(100).optional()},
  });
}

schema items_schema() {
  return schema::object({
      {"page", schema::integer().min(1).default_value(1)},
      {"limit", schema::integer().min(1).max(100).default_value(20)},
  });
}

// A handler that echoes what validate left in the context.
handler echo(http::status status = http::status::ok) {
  return [status](request& req, context& ctx) -> asio::awaitable<response> {
    json out = {{"raw_body", req.body()}};
    if (ctx.body) out["body"] = *ctx.body;
    if (ctx.query) out["query"] = *ctx.query;
    co_return json_response(req, status, out.dump());
  };
}

chain make_chain(validate_options options, http::verb verb = http::verb::post,
                 http::status status = http::status::ok) {
  chain::builder b;
  b.route(verb, "/t", echo(status),
          {.middleware = {std::make_shared<validate>(std::move(options))}});
  return std::move(b).build();
}

response send(const chain& c, http::verb verb, std::string target, std::string body = {},
              std::string content_type = "application/json") {
  request req{verb, target, 11};
  req.set(http::field::host, "a");
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  req.body() = std::move(body);
  req.prepare_payload();
  context ctx;
  return run_blocking(c, req, ctx);
}

std::set<std::string> fields_of(const json& body) {
  std::set<std::string> out;
  for (const auto& d : body.at("details")) out.insert(d.at("field").get<std::string>());
  return out;
}

const json* detail_for(const json& body, std::string_view field) {
  for (const auto& d : body.at("details"))
    if (d.at("field") == field) return &d;
  return nullptr;
}

// A plain-words schema of a case file turned into a schema and limits.
struct case_setup {
  schema query = items_schema();
  query_options limits;
};

case_setup setup_for(const json& c) {
  case_setup s;
  std::string words = c.value("schema", "");
  if (words.empty()) return s;
  if (words == "active: boolean") {
    s.query = schema::object({{"active", schema::boolean()}});
  } else if (words == "ids: array of integers, at most 100") {
    s.query = schema::object({{"ids", schema::array(schema::integer()).max(100)}});
  } else if (words == "nesting depth at most 5") {
    s.query = schema::object({{"a", schema::any()}});
    s.limits.max_depth = 5;
  } else {
    ADD_FAILURE() << "case " << c.at("id") << ": unknown schema words: " << words;
  }
  return s;
}

std::string query_of(const json& c) {
  std::string q = c.at("query");
  if (c.at("id") == "param-flood") {
    q.clear();
    for (int i = 1; i <= 1001; ++i) q += (i > 1 ? "&x" : "x") + std::to_string(i) + "=1";
  }
  return q;
}

void expect_status(const json& c, http::status got) {
  auto code = static_cast<unsigned>(got);
  if (c.at("status").is_array()) {
    bool any = false;
    for (const auto& s : c.at("status")) any = any || s.get<unsigned>() == code;
    EXPECT_TRUE(any) << c.at("id") << ": got " << code;
  } else {
    EXPECT_EQ(code, c.at("status").get<unsigned>()) << c.at("id");
  }
}

TEST(validate, query_cases) {
  auto file = test::load_cases("validation/query.json");
  test::expect_case_ids(
      file.at("cases"),
      {"defaults", "coerced", "not-a-number", "trailing-garbage", "overflow", "hex", "fraction",
       "too-big", "scalar-duplicate", "bad-percent", "two-errors", "proto-key", "param-flood",
       "bool-false", "bool-garbage", "array-limit", "depth"});
  for (const auto& c : file.at("cases")) {
    auto s = setup_for(c);
    auto app =
        make_chain({.name = "q", .query = s.query, .query_limits = s.limits}, http::verb::get);
    std::string q = query_of(c);
    auto res = send(app, http::verb::get, q.empty() ? "/t" : "/t?" + q, {}, {});
    expect_status(c, res.result());
    EXPECT_EQ(res[http::field::content_type], "application/json") << c.at("id");
    json body = json::parse(res.body());
    if (c.contains("value")) EXPECT_EQ(body.at("query"), c.at("value")) << c.at("id");
    if (c.contains("field")) {
      const json* d = detail_for(body, c.at("field").get<std::string>());
      ASSERT_NE(d, nullptr) << c.at("id") << ": " << body;
      if (c.contains("code")) EXPECT_EQ(d->at("code"), c.at("code")) << c.at("id");
    }
    if (c.contains("fields")) {
      std::set<std::string> want;
      for (const auto& f : c.at("fields")) want.insert(f.get<std::string>());
      EXPECT_EQ(fields_of(body), want) << c.at("id");
    }
    if (c.at("id") == "proto-key") EXPECT_EQ(body.at("query"), json({{"page", 1}, {"limit", 20}}));
  }
}

TEST(validate, body_cases) {
  auto file = test::load_cases("validation/bodies.json");
  test::expect_case_ids(
      file.at("cases"),
      {"ok", "both-bad", "wrong-type", "unknown-key-stripped", "duplicate-key", "invalid-json",
       "deep", "not-json-content-type", "code-points", "lone-surrogate"});
  auto app = make_chain({.name = "users", .body = users_schema()}, http::verb::post,
                        http::status::created);
  for (const auto& c : file.at("cases")) {
    std::string body = c.at("body");
    if (c.at("id") == "deep") body = std::string(100000, '[') + std::string(100000, ']');
    auto res = send(app, http::verb::post, "/t", body, c.value("content_type", "application/json"));
    expect_status(c, res.result());
    json out = json::parse(res.body());
    if (c.contains("field")) {
      const json* d = detail_for(out, c.at("field").get<std::string>());
      ASSERT_NE(d, nullptr) << c.at("id") << ": " << out;
      if (c.contains("code")) EXPECT_EQ(d->at("code"), c.at("code")) << c.at("id");
    }
    if (c.contains("fields")) {
      std::set<std::string> want;
      for (const auto& f : c.at("fields")) want.insert(f.get<std::string>());
      EXPECT_EQ(fields_of(out), want) << c.at("id");
    }
    if (res.result() == http::status::created) {
      // The handler saw the validated body only.
      EXPECT_EQ(out.at("raw_body"), "") << c.at("id");
      EXPECT_FALSE(out.at("body").contains("admin")) << c.at("id");
    }
    if (c.at("id") == "invalid-json") {
      const auto& d = out.at("details").at(0);
      EXPECT_EQ(d.at("line"), 1);
      EXPECT_EQ(d.at("column"), 11);  // just past the end
      EXPECT_EQ(d.at("message"), "invalid JSON at line 1, column 11");
    }
  }
}

TEST(validate, content_types) {
  auto app = make_chain({.body = users_schema()});
  std::string ok = R"({"email":"a@example.com","password":"correct-horse-battery"})";
  for (auto type : {"application/json", "Application/JSON; charset=utf-8",
                    "application/problem+json", "application/json;charset=\"UTF-8\""})
    EXPECT_EQ(send(app, http::verb::post, "/t", ok, type).result(), http::status::ok) << type;
  for (auto type : {"", "text/plain", "application/json; charset=latin1", "application/jsonx",
                    "application/x-www-form-urlencoded", "multipart/form-data"})
    EXPECT_EQ(send(app, http::verb::post, "/t", ok, type).result(),
              http::status::unsupported_media_type)
        << type;
}

TEST(validate, form_bodies_use_the_lax_table) {
  auto app = make_chain({.body = schema::object({{"age", schema::integer().min(18)},
                                                 {"news", schema::boolean()},
                                                 {"name", schema::string().trim()}}),
                         .accept_form = true});
  auto res = send(app, http::verb::post, "/t", "age=21&news=off&name=+Ada+",
                  "application/x-www-form-urlencoded");
  ASSERT_EQ(res.result(), http::status::ok) << res.body();
  EXPECT_EQ(json::parse(res.body()).at("body"),
            json({{"age", 21}, {"news", false}, {"name", "Ada"}}));

  res = send(app, http::verb::post, "/t", "age=17&news=maybe&name=x",
             "application/x-www-form-urlencoded");
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(fields_of(json::parse(res.body())), (std::set<std::string>{"age", "news"}));

  res = send(app, http::verb::post, "/t", "age=%G1", "application/x-www-form-urlencoded");
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(json::parse(res.body()).at("error"), "Invalid form body");
}

TEST(validate, body_and_query_issues_together) {
  auto app = make_chain({.body = users_schema(), .query = items_schema()});
  auto res = send(app, http::verb::post, "/t?page=0", R"({"email":"x","password":"short"})");
  ASSERT_EQ(res.result(), http::status::bad_request);
  json out = json::parse(res.body());
  EXPECT_EQ(out.at("error"), "Validation failed");
  ASSERT_EQ(out.at("details").size(), 3u) << out;
  std::multiset<std::string> where;
  for (const auto& d : out.at("details")) where.insert(d.at("in").get<std::string>());
  EXPECT_EQ(where.count("body"), 2u);
  EXPECT_EQ(where.count("query"), 1u);
}

TEST(validate, issue_cap_bounds_the_response) {
  std::vector<std::pair<std::string, schema>> fields;
  for (int i = 0; i < 50; ++i) fields.emplace_back("f" + std::to_string(i), schema::string());
  auto app = make_chain({.body = schema::object(fields), .max_issues = 5});
  auto res = send(app, http::verb::post, "/t", "{}");
  ASSERT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(json::parse(res.body()).at("details").size(), 5u);
}

TEST(validate, counters_by_name) {
  auto mw = std::make_shared<validate>(
      validate_options{.name = "users", .body = users_schema(), .query = items_schema()});
  chain::builder b;
  b.route(http::verb::post, "/t", echo(), {.middleware = {mw}});
  auto app = std::move(b).build();
  std::string ok = R"({"email":"a@example.com","password":"correct-horse-battery"})";
  send(app, http::verb::post, "/t", ok);
  send(app, http::verb::post, "/t", R"({"email":1})");
  send(app, http::verb::post, "/t?limit=0", ok);
  send(app, http::verb::post, "/t", "{");
  send(app, http::verb::post, "/t?a=%", ok);
  send(app, http::verb::post, "/t", ok, "text/plain");
  const auto& c = *mw->counters();
  EXPECT_EQ(c.value("passed"), 1u);
  EXPECT_EQ(c.value("invalid_body"), 1u);
  EXPECT_EQ(c.value("invalid_query"), 1u);
  EXPECT_EQ(c.value("malformed_json"), 1u);
  EXPECT_EQ(c.value("malformed_query"), 1u);
  EXPECT_EQ(c.value("unsupported_media_type"), 1u);
}

TEST(validate, problem_json_format) {
  chain::builder b;
  b.errors(error_format::problem_json);
  b.route(http::verb::post, "/t", echo(),
          {.middleware = {std::make_shared<validate>(validate_options{.body = users_schema()})}});
  auto app = std::move(b).build();
  auto res = send(app, http::verb::post, "/t", R"({"email":1})");
  EXPECT_EQ(res.result(), http::status::bad_request);
  EXPECT_EQ(res[http::field::content_type], "application/problem+json");
  EXPECT_EQ(json::parse(res.body()).at("details").size(), 2u);
}

TEST(validate, bad_options_throw_when_built) {
  EXPECT_THROW(validate(validate_options{}), config_error);
  EXPECT_THROW(validate(validate_options{.query = schema::string()}), config_error);
  EXPECT_THROW(validate(validate_options{.query = items_schema(), .accept_form = true}),
               config_error);
  EXPECT_THROW(validate(validate_options{.body = users_schema(), .max_issues = 0}), config_error);
  try {
    validate(validate_options{.query = schema::array(schema::string())});
    FAIL();
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("validate: the query schema is array"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace portcullis
