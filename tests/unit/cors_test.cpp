#include "portcullis/cors.hpp"

#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"
#include "portcullis/errc.hpp"
#include "portcullis/error_handler.hpp"
#include "support/cases.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>

namespace portcullis {
namespace {

using namespace std::chrono_literals;

// The CORS response fields a grant consists of.
const std::vector<std::string> grant_fields{
    "Access-Control-Allow-Origin",         "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",        "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",       "Access-Control-Max-Age",
    "Access-Control-Allow-Private-Network"};

bool has_no_grant(const response& res) {
  for (const auto& f : grant_fields)
    if (res.count(f) != 0) return false;
  return true;
}

// The tokens of all Vary fields, in order.
std::vector<std::string> vary_of(const response& res) {
  std::vector<std::string> out;
  for (const auto& f : res) {
    if (f.name() != http::field::vary) continue;
    std::string_view v = f.value();
    while (!v.empty()) {
      auto comma = v.find(',');
      auto item = v.substr(0, comma);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      out.emplace_back(item);
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool varies_on_origin(const response& res) {
  auto v = vary_of(res);
  return std::find(v.begin(), v.end(), "Origin") != v.end();
}

handler reply(std::string text) {
  return [text](request& req, context&) -> asio::awaitable<response> {
    response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain");
    res.body() = text;
    res.prepare_payload();
    co_return res;
  };
}

// A chain: cors in front of GET/POST/OPTIONS /data.
struct app {
  std::shared_ptr<cors> mw;
  std::optional<chain> c;

  explicit app(cors_options o, std::vector<std::shared_ptr<const middleware>> inner = {},
               handler h = reply("data")) {
    mw = std::make_shared<cors>(std::move(o));
    chain::builder b;
    b.use(mw);
    for (auto& m : inner) b.use(m);
    b.route(http::verb::get, "/data", h);
    b.route(http::verb::post, "/data", h);
    b.route(http::verb::delete_, "/data", h);
    b.route(http::verb::options, "/data", reply("route options"));
    c.emplace(std::move(b).build());
  }

  response run(request req) const {
    context ctx;
    return run_blocking(*c, req, ctx);
  }

  std::uint64_t counter(std::string_view name) const { return mw->counters()->value(name); }
};

request get(std::string_view origin = {}, std::string target = "/data") {
  request req{http::verb::get, target, 11};
  req.set(http::field::host, "api.test");
  if (!origin.empty() || origin.data() != nullptr) req.set(http::field::origin, origin);
  return req;
}

request preflight(std::string_view origin, std::string_view method, std::string_view headers = {}) {
  request req{http::verb::options, "/data", 11};
  req.set(http::field::host, "api.test");
  req.set(http::field::origin, origin);
  req.set(http::field::access_control_request_method, method);
  if (!headers.empty()) req.set(http::field::access_control_request_headers, headers);
  return req;
}

std::string what_of(const cors_options& o) {
  try {
    cors c{o};
  } catch (const config_error& e) {
    EXPECT_EQ(e.code(), errc::invalid_config);
    return e.what();
  }
  return {};
}

logger quiet() {
  return logger{std::make_shared<null_sink>(), log_level::off};
}

// --- The shared case files -----------------------------------------------------

std::vector<std::string> strings(const nlohmann::json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key))
    for (const auto& s : j.at(key)) out.push_back(s.get<std::string>());
  return out;
}

// Maps a case file's plain configuration onto cors_options. Patterns of the
// wildcard form go into `origins`, where portcullis takes them.
cors_options options_from(const nlohmann::json& config) {
  cors_options o;
  o.log = quiet();
  o.production.origins = strings(config, "allowed_origins");
  for (auto& p : strings(config, "allowed_patterns")) o.production.origins.push_back(p);
  o.credentials = config.value("credentials", false);
  if (config.contains("methods")) o.methods = strings(config, "methods");
  if (config.contains("allowed_headers")) o.allowed_headers = strings(config, "allowed_headers");
  o.exposed_headers = strings(config, "exposed_headers");
  if (config.contains("max_age_s")) o.max_age = std::chrono::seconds(config.at("max_age_s"));
  return o;
}

TEST(cors, origin_cases) {
  auto file = test::load_cases("cors/origins.json");
  test::expect_case_ids(
      file["cases"], {"exact", "exact-www", "dev-port", "dev-other-port", "scheme-downgrade",
                      "prefix-glue", "suffix-append", "userinfo", "path-smuggle", "trailing-slash",
                      "null", "empty", "wildcard-sub", "wildcard-glue", "wildcard-empty-label",
                      "wildcard-encoded-dot", "wildcard-suffix-append", "two-origins"});
  ASSERT_TRUE(file["config"].value("credentials", false));
  app a{options_from(file["config"])};

  std::size_t allowed = 0, denied = 0;
  for (const auto& c : file["cases"]) {
    SCOPED_TRACE(c["id"].get<std::string>());
    std::string origin = c["origin"];
    bool expect = c["allowed"];
    EXPECT_EQ(a.mw->allows(origin), expect);

    auto res = a.run(get(origin));
    EXPECT_EQ(res.result(), http::status::ok);  // the request runs either way
    EXPECT_TRUE(varies_on_origin(res));
    EXPECT_NE(res[http::field::access_control_allow_origin], "null");
    EXPECT_NE(res[http::field::access_control_allow_origin], "*");
    if (expect) {
      ++allowed;
      EXPECT_EQ(res[http::field::access_control_allow_origin], origin);
      EXPECT_EQ(res.count(http::field::access_control_allow_origin), 1u);
      EXPECT_EQ(res[http::field::access_control_allow_credentials], "true");
    } else {
      ++denied;
      EXPECT_TRUE(has_no_grant(res));
    }

    // The preflight from the same origin agrees.
    auto pre = a.run(preflight(origin, "PUT"));
    EXPECT_EQ(pre.result(), expect ? http::status::no_content : http::status::forbidden);
    EXPECT_EQ(has_no_grant(pre), !expect);
    EXPECT_TRUE(varies_on_origin(pre));
  }
  EXPECT_EQ(a.counter("allowed"), allowed);
  EXPECT_EQ(a.counter("denied"), denied);
  EXPECT_EQ(a.counter("preflight_allowed"), allowed);
  EXPECT_EQ(a.counter("preflight_denied"), denied);

  // Rule: a request without Origin still varies on it.
  auto none = a.run(get(std::string_view{}));
  EXPECT_TRUE(varies_on_origin(none));
  EXPECT_TRUE(has_no_grant(none));
}

TEST(cors, preflight_cases) {
  auto file = test::load_cases("cors/preflight.json");
  test::expect_case_ids(file["cases"],
                        {"ok", "method-denied", "header-denied", "origin-denied", "header-case",
                         "plain-options", "pna-off-by-default", "acrh-flood"});
  app a{options_from(file["config"])};

  for (const auto& c : file["cases"]) {
    std::string id = c["id"];
    SCOPED_TRACE(id);
    std::string origin = c["origin"];

    if (c["request_method"].is_null()) {
      // Not a preflight: the route answers, with the grant of an actual request.
      request req{http::verb::options, "/data", 11};
      req.set(http::field::origin, origin);
      auto res = a.run(req);
      EXPECT_EQ(res.result(), http::status::ok);
      EXPECT_EQ(res.body(), "route options");
      EXPECT_EQ(res[http::field::access_control_allow_origin], origin);
      EXPECT_EQ(res.count(http::field::access_control_allow_methods), 0u);
      continue;
    }

    std::string acrh = c.value("request_headers", "");
    if (acrh == "<6000 commas>") acrh = std::string(6000, ',');
    auto req = preflight(origin, c["request_method"].get<std::string>(), acrh);
    if (c.contains("extra_headers"))
      for (const auto& [k, v] : c["extra_headers"].items()) req.set(k, v.get<std::string>());

    auto res = a.run(req);
    EXPECT_TRUE(varies_on_origin(res));
    if (c["granted"].get<bool>()) {
      EXPECT_EQ(res.result(), http::status(c.value("expect_status", 204)));
      EXPECT_EQ(res[http::field::access_control_allow_origin], origin);
      EXPECT_EQ(res[http::field::access_control_allow_credentials], "true");
      EXPECT_EQ(res[http::field::access_control_allow_methods], "GET, POST, PUT, DELETE, PATCH");
      EXPECT_EQ(res[http::field::access_control_allow_headers],
                "Content-Type, Authorization, X-API-Key");
      EXPECT_EQ(res[http::field::access_control_max_age], "86400");
      EXPECT_TRUE(res.body().empty());
    } else {
      EXPECT_EQ(res.result(), http::status::forbidden);
      EXPECT_EQ(res[http::field::content_type], "application/json");
      EXPECT_TRUE(nlohmann::json::parse(res.body()).contains("error"));
      EXPECT_TRUE(has_no_grant(res));
    }
    for (const auto& absent : strings(c, "expect_absent")) EXPECT_EQ(res.count(absent), 0u);
    // Nothing of the request's header list comes back raw.
    if (!acrh.empty()) {
      for (const auto& f : res) EXPECT_EQ(f.value().find(acrh), std::string_view::npos);
      EXPECT_EQ(res.body().find(acrh), std::string::npos);
    }
  }
  EXPECT_EQ(a.counter("preflight_allowed"), 3u);
  EXPECT_EQ(a.counter("preflight_denied"), 4u);
  EXPECT_EQ(a.counter("request_headers_rejected"), 1u);
  EXPECT_EQ(a.counter("private_network_denied"), 1u);
  EXPECT_EQ(a.counter("private_network_allowed"), 0u);
}

TEST(cors, preflight_build_errors) {
  auto file = test::load_cases("cors/preflight.json");
  test::expect_case_ids(file["build_errors"],
                        {"wildcard-with-credentials", "origin-with-path", "bad-method-token"});
  const std::map<std::string, std::string> names_option{
      {"wildcard-with-credentials", "production.origins is '*' while credentials is on"},
      {"origin-with-path", "production.origins[0] 'https://yourapp.com/app' has a path"},
      {"bad-method-token", "methods[0] 'GE T' is not a valid token"},
  };
  for (const auto& c : file["build_errors"]) {
    std::string id = c["id"];
    SCOPED_TRACE(id);
    auto what = what_of(options_from(c["config"]));
    EXPECT_NE(what.find(names_option.at(id)), std::string::npos) << what;
  }
  // The fix is in the message too.
  auto o = options_from(file["build_errors"][1]["config"]);
  EXPECT_NE(what_of(o).find("write 'https://yourapp.com'"), std::string::npos);
}

// --- Rules -----------------------------------------------------------------------

cors_options basic(bool credentials = false) {
  cors_options o;
  o.log = quiet();
  o.production.origins = {"https://app.example.com"};
  o.credentials = credentials;
  return o;
}

TEST(cors, no_configuration_grants_nothing) {
  app a{cors_options{.log = quiet()}};
  auto res = a.run(get("https://app.example.com"));
  EXPECT_EQ(res.result(), http::status::ok);
  EXPECT_TRUE(has_no_grant(res));
  auto pre = a.run(preflight("https://app.example.com", "GET"));
  EXPECT_EQ(pre.result(), http::status::forbidden);
  EXPECT_TRUE(has_no_grant(pre));
  EXPECT_FALSE(a.mw->allows("null"));
  EXPECT_FALSE(a.mw->allows("http://localhost:3000"));
}

TEST(cors, vary_is_merged_with_what_the_handler_set) {
  auto h = [](std::vector<std::string> vary) -> handler {
    return [vary](request& req, context&) -> asio::awaitable<response> {
      response res{http::status::ok, req.version()};
      for (const auto& v : vary) res.insert(http::field::vary, v);
      co_return res;
    };
  };
  {
    app a{basic(), {}, h({"Accept-Encoding"})};
    EXPECT_EQ(vary_of(a.run(get("https://app.example.com"))),
              (std::vector<std::string>{"Accept-Encoding", "Origin"}));
    EXPECT_EQ(vary_of(a.run(get("https://evil.example"))),
              (std::vector<std::string>{"Accept-Encoding", "Origin"}));
    auto none = a.run(get(std::string_view{}));
    EXPECT_EQ(vary_of(none), (std::vector<std::string>{"Accept-Encoding", "Origin"}));
    EXPECT_EQ(none.count(http::field::vary), 1u);
  }
  {
    // Two fields, one of them already naming origin in another case.
    app a{basic(), {}, h({"Accept-Encoding", "origin"})};
    auto res = a.run(get("https://app.example.com"));
    EXPECT_EQ(vary_of(res), (std::vector<std::string>{"Accept-Encoding", "origin"}));
    EXPECT_EQ(res.count(http::field::vary), 1u);
  }
  {
    app a{basic(), {}, h({"*"})};
    EXPECT_EQ(vary_of(a.run(get("https://app.example.com"))), (std::vector<std::string>{"*"}));
  }
}

TEST(cors, errors_from_deeper_in_the_chain_carry_the_grant) {
  auto status_mw = [](http::status s) {
    return make_middleware(
        [s](request& req, context& ctx, next_handler next) -> asio::awaitable<response> {
          if (req.target() == "/data?fail") co_return ctx.error(req, s, "no");
          co_return co_await next(req, ctx);
        });
  };
  for (auto s : {http::status::unauthorized, http::status::payload_too_large,
                 http::status::too_many_requests}) {
    SCOPED_TRACE(static_cast<int>(s));
    app a{basic(true), {status_mw(s)}};
    auto res = a.run(get("https://app.example.com", "/data?fail"));
    EXPECT_EQ(res.result(), s);
    EXPECT_EQ(res[http::field::access_control_allow_origin], "https://app.example.com");
    EXPECT_EQ(res[http::field::access_control_allow_credentials], "true");
    EXPECT_TRUE(varies_on_origin(res));
    auto evil = a.run(get("https://evil.example", "/data?fail"));
    EXPECT_TRUE(has_no_grant(evil));
    EXPECT_TRUE(varies_on_origin(evil));
  }

  // A 500 from an error_handler inside cors.
  auto boom = [](request&, context&) -> asio::awaitable<response> {
    throw std::runtime_error("database is down");
    co_return response{};
  };
  error_handler_options eo;
  eo.log = quiet();
  app a{basic(true), {std::make_shared<error_handler>(eo)}, boom};
  auto res = a.run(get("https://app.example.com"));
  EXPECT_EQ(res.result(), http::status::internal_server_error);
  EXPECT_EQ(res[http::field::access_control_allow_origin], "https://app.example.com");
  EXPECT_TRUE(varies_on_origin(res));
}

TEST(cors, handler_grants_are_replaced_and_never_leak_to_a_denied_origin) {
  auto loose = [](request& req, context&) -> asio::awaitable<response> {
    response res{http::status::ok, req.version()};
    res.set(http::field::access_control_allow_origin, "*");
    res.set(http::field::access_control_allow_credentials, "true");
    res.set(http::field::access_control_expose_headers, "X-Secret");
    co_return res;
  };
  app a{basic(), {}, loose};
  auto evil = a.run(get("https://evil.example"));
  EXPECT_TRUE(has_no_grant(evil));
  auto ok = a.run(get("https://app.example.com"));
  EXPECT_EQ(ok[http::field::access_control_allow_origin], "https://app.example.com");
  EXPECT_EQ(ok.count(http::field::access_control_allow_origin), 1u);
  EXPECT_EQ(ok.count(http::field::access_control_allow_credentials), 0u);
  EXPECT_EQ(ok.count(http::field::access_control_expose_headers), 0u);
}

TEST(cors, refuse_disallowed_answers_403_json) {
  auto o = basic();
  o.refuse_disallowed = true;
  bool ran = false;
  app a{o, {}, [&ran](request& req, context&) -> asio::awaitable<response> {
          ran = true;
          co_return response{http::status::ok, req.version()};
        }};
  auto res = a.run(get("https://evil.example"));
  EXPECT_EQ(res.result(), http::status::forbidden);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res.body(), R"({"error":"origin not allowed"})");
  EXPECT_TRUE(has_no_grant(res));
  EXPECT_TRUE(varies_on_origin(res));
  EXPECT_FALSE(ran);
  EXPECT_EQ(a.counter("refused"), 1u);

  // Allowed origins and requests without Origin still run.
  EXPECT_EQ(a.run(get("https://app.example.com")).result(), http::status::ok);
  EXPECT_EQ(a.run(get(std::string_view{})).result(), http::status::ok);
  EXPECT_TRUE(ran);

  // By default the request runs without a grant.
  app d{basic()};
  EXPECT_EQ(d.run(get("https://evil.example")).result(), http::status::ok);
  EXPECT_EQ(d.counter("denied"), 1u);
}

TEST(cors, wildcard_origin_without_credentials) {
  cors_options o;
  o.log = quiet();
  o.production.origins = {"*"};
  o.exposed_headers = {"RateLimit-Remaining"};
  app a{o};
  auto res = a.run(get("https://anyone.example"));
  EXPECT_EQ(res[http::field::access_control_allow_origin], "*");
  EXPECT_EQ(res.count(http::field::access_control_allow_credentials), 0u);
  EXPECT_EQ(res[http::field::access_control_expose_headers], "RateLimit-Remaining");
  EXPECT_FALSE(varies_on_origin(res));  // the same answer for every origin
  auto pre = a.run(preflight("null", "DELETE", "content-type"));
  EXPECT_EQ(pre.result(), http::status::no_content);
  EXPECT_EQ(pre[http::field::access_control_allow_origin], "*");
  // Methods and headers are still checked.
  EXPECT_EQ(a.run(preflight("https://anyone.example", "TRACE")).result(), http::status::forbidden);
  EXPECT_EQ(a.run(preflight("https://anyone.example", "GET", "x-evil")).result(),
            http::status::forbidden);

  o.production.origins = {"*", "https://app.example.com"};
  EXPECT_NE(what_of(o).find("production.origins lists '*' beside other origins"),
            std::string::npos);
  o.production.origins = {"*"};
  o.production.predicate = [](std::string_view) { return false; };
  EXPECT_NE(what_of(o).find("lists '*' beside"), std::string::npos);
}

TEST(cors, null_only_when_listed) {
  app a{basic()};
  auto res = a.run(get("null"));
  EXPECT_TRUE(has_no_grant(res));

  auto o = basic();
  o.production.origins.push_back("null");
  o.production.predicate = [](std::string_view origin) {
    EXPECT_NE(origin, "null");  // the predicate never sees null
    return false;
  };
  app listed{o};
  auto ok = listed.run(get("null"));
  EXPECT_EQ(ok[http::field::access_control_allow_origin], "null");

  // A predicate cannot allow null.
  auto p = basic();
  p.production.predicate = [](std::string_view origin) { return origin == "null"; };
  app pred{p};
  EXPECT_TRUE(has_no_grant(pred.run(get("null"))));
}

TEST(cors, origins_are_normalised) {
  auto o = basic(true);
  o.production.origins = {"HTTPS://App.Example.COM:443", "http://LOCALHOST:80",
                          "http://[::1]:8080"};
  app a{o};
  for (auto origin : {"https://app.example.com", "http://localhost", "http://[::1]:8080",
                      "https://APP.example.com", "https://app.example.com:443"}) {
    SCOPED_TRACE(origin);
    auto res = a.run(get(origin));
    // The header echoes what the browser sent, byte for byte.
    EXPECT_EQ(res[http::field::access_control_allow_origin], origin);
  }
  for (auto origin :
       {"https://app.example.com:8443", "http://localhost:3000", "http://[::1]",
        "https://app.example.com:0443", "https://app.example.com:", "http://[::1",
        "https://app.example.com.", "https://app..example.com", "https://app.example.com\t",
        " https://app.example.com", "https://app.example.com:99999", "https://app.example.com#x",
        "https://app.example.com?x", "https://app.example.com/", "https://user:pw@app.example.com",
        "https://app.exa%6dple.com"}) {
    SCOPED_TRACE(origin);
    EXPECT_FALSE(a.mw->allows(origin));
  }

  // Two Origin fields never match, even when each would.
  auto req = get("https://app.example.com");
  req.insert(http::field::origin, "https://app.example.com");
  EXPECT_TRUE(has_no_grant(a.run(req)));
}

TEST(cors, subdomain_wildcards) {
  auto o = basic();
  o.production.origins = {"https://*.example.com", "http://*.localhost:5173"};
  app a{o};
  for (auto yes : {"https://a.example.com", "https://a.b.example.com", "https://A.EXAMPLE.com",
                   "http://app.localhost:5173"})
    EXPECT_TRUE(a.mw->allows(yes)) << yes;
  for (auto no :
       {"https://example.com", "http://a.example.com", "https://a.example.com:8443",
        "https://evil-example.com", "https://example.com.evil.net",
        "https://a.example.com.evil.net", "https://.example.com", "https://a.example.com@evil.net",
        "http://app.localhost", "http://localhost:5173"})
    EXPECT_FALSE(a.mw->allows(no)) << no;

  for (auto bad : {"https://*.com", "https://*", "https://a.*.example.com", "https://*example.com",
                   "https://*.[::1]"}) {
    o.production.origins = {bad};
    auto what = what_of(o);
    EXPECT_NE(what.find(std::string("production.origins[0] '") + bad + "'"), std::string::npos)
        << what;
  }
}

// Found by fuzzing (corpus: regression-case-at-the-end-of-the-buffer):
// with Boost 1.81's beast::iequals, an origin whose host differs from an
// entry only in case was read one byte past its end. The origin is put in
// a heap buffer of exactly its size so that an ASan build sees any such
// read.
TEST(cors, an_origin_differing_only_in_case_is_read_within_its_bytes) {
  auto o = basic();
  o.production.origins = {"https://*.example.org", "https://app.example.com"};
  app a{o};
  for (std::string_view origin : {"https://a.b.exAmple.org", "https://APP.example.coM",
                                  "HTTPS://a.example.org", "https://a.example.orG:443"}) {
    auto bytes = std::make_unique<char[]>(origin.size());
    std::copy(origin.begin(), origin.end(), bytes.get());
    EXPECT_TRUE(a.mw->allows(std::string_view(bytes.get(), origin.size()))) << origin;
  }
}

TEST(cors, regexes_are_anchored_below_a_literal_domain) {
  auto o = basic();
  o.production.origins = {};
  o.production.regexes = {R"(https://(app|admin)\.example\.com)",
                          R"(^https?://[a-z0-9-]+\.preview\.example\.org(:\d+)?$)",
                          R"(https://evil\.net|https://x\.example\.net)",
                          R"(https://(www\.)?example\.io)", R"(https://[a-z]*shop\.example\.dev)"};
  app a{o};
  for (auto yes : {"https://app.example.com", "https://ADMIN.example.com",
                   "http://pr-12.preview.example.org:8080", "https://pr-12.preview.example.org",
                   "https://x.example.net", "https://example.io", "https://www.example.io",
                   "https://shop.example.dev"})
    EXPECT_TRUE(a.mw->allows(yes)) << yes;
  for (auto no : {
           "https://app.example.com.evil.net",   // not anchored at the end: would match
           "https://evil.app.example.com",       // not anchored at the start
           "https://xapp.example.com",           //
           "https://a.b.preview.example.org",    // [a-z0-9-]+ is one label
           "ftp://pr-1.preview.example.org",     //
           "https://evil.net",                   // the regex allows it; the domain does not
           "https://evil-example.io",            //
           "https://evilshop.example.dev.evil",  //
       })
    EXPECT_FALSE(a.mw->allows(no)) << no;
  // "[a-z]*shop" would let "myshop" glue onto the label; the domain check
  // admits only shop.example.dev and what lies below it.
  EXPECT_FALSE(a.mw->allows("https://myshop.example.dev"));

  struct bad_case {
    std::string regex;
    std::string message;
  };
  for (const auto& [regex, message] : std::vector<bad_case>{
           {".*", "must start with a literal scheme"},
           {"https://.*", "must end with a literal domain"},
           {R"(https://.*\.com)", "must end with a literal domain"},
           {"https://app.example.com", "must end with a literal domain"},  // unescaped dots
           {R"(https://app\.example\.com.*)", "must end with a literal domain"},
           {R"(https://[a-z]+\.example\.co(m)", "is not a valid RE2 regex"},
           {"https://*.example.com", "put it into production.origins"},
       }) {
    SCOPED_TRACE(regex);
    o.production.regexes = {regex};
    auto what = what_of(o);
    EXPECT_NE(what.find("production.regexes[0]"), std::string::npos) << what;
    EXPECT_NE(what.find(message), std::string::npos) << what;
  }
}

TEST(cors, predicate_sees_the_normalised_origin) {
  std::vector<std::string> seen;
  auto o = basic(true);
  o.production.predicate = [&seen](std::string_view origin) {
    seen.emplace_back(origin);
    return origin.ends_with(".partner.example");
  };
  app a{o};
  seen.clear();  // the build probed it
  EXPECT_TRUE(a.mw->allows("https://A.Partner.Example"));
  EXPECT_FALSE(a.mw->allows("https://evil.example"));
  EXPECT_FALSE(a.mw->allows("https://x.partner.example/path"));  // never reaches it
  EXPECT_EQ(seen, (std::vector<std::string>{"https://a.partner.example", "https://evil.example"}));

  // Reflecting any origin with credentials fails at build.
  o.production.predicate = [](std::string_view) { return true; };
  EXPECT_NE(what_of(o).find("production.predicate accepts any origin"), std::string::npos);
  o.credentials = false;
  EXPECT_EQ(what_of(o), "");
}

TEST(cors, development_and_production_sets) {
  auto o = basic(true);
  o.development.origins = {"http://localhost:3000"};
  {
    app prod{o};
    EXPECT_TRUE(prod.mw->allows("https://app.example.com"));
    EXPECT_FALSE(prod.mw->allows("http://localhost:3000"));
  }
  o.development_mode = true;
  {
    app dev{o};
    EXPECT_FALSE(dev.mw->allows("https://app.example.com"));
    EXPECT_TRUE(dev.mw->allows("http://localhost:3000"));
  }
  // A mistake in the set not in use still fails.
  o.production.origins = {"https://app.example.com/"};
  EXPECT_NE(what_of(o).find("production.origins[0] 'https://app.example.com/' ends with '/'"),
            std::string::npos);
  o.production.origins = {"https://app.example.com"};
  o.development.origins = {"localhost:3000"};
  EXPECT_NE(what_of(o).find("development.origins[0] 'localhost:3000' has no scheme"),
            std::string::npos);
}

TEST(cors, preflight_methods_and_headers) {
  auto o = basic();
  o.methods = {"GET", "POST", "PATCH"};
  o.allowed_headers = {"Content-Type", "X-Request-Id"};
  o.max_age = 0s;
  app a{o};

  auto ok = a.run(preflight("https://app.example.com", "PATCH", "x-request-id,content-type"));
  EXPECT_EQ(ok.result(), http::status::no_content);
  EXPECT_EQ(ok[http::field::access_control_allow_methods], "GET, POST, PATCH");
  EXPECT_EQ(ok[http::field::access_control_allow_headers], "Content-Type, X-Request-Id");
  EXPECT_EQ(ok[http::field::access_control_max_age], "0");
  EXPECT_EQ(ok.count(http::field::access_control_allow_credentials), 0u);
  EXPECT_EQ(vary_of(ok), (std::vector<std::string>{"Origin", "Access-Control-Request-Method",
                                                   "Access-Control-Request-Headers"}));

  // Methods compare case-sensitively: browsers upper-case only the six
  // standard methods, so "patch" is another method.
  EXPECT_EQ(a.run(preflight("https://app.example.com", "patch")).result(), http::status::forbidden);
  EXPECT_EQ(a.run(preflight("https://app.example.com", "G ET")).result(), http::status::forbidden);
  // Lists with spaces, tabs and empty elements parse.
  EXPECT_EQ(
      a.run(preflight("https://app.example.com", "GET", " Content-Type ,\t,x-request-id")).result(),
      http::status::no_content);
  // A header name that is not a token is malformed.
  EXPECT_EQ(a.run(preflight("https://app.example.com", "GET", "content type")).result(),
            http::status::forbidden);

  // A preflight for a path no route has is still answered: CORS is per origin.
  auto elsewhere = preflight("https://app.example.com", "GET");
  elsewhere.target("/nowhere");
  EXPECT_EQ(a.run(elsewhere).result(), http::status::no_content);

  // ACRM without Origin is not a preflight.
  request plain{http::verb::options, "/data", 11};
  plain.set(http::field::access_control_request_method, "GET");
  EXPECT_EQ(a.run(plain).body(), "route options");
}

TEST(cors, request_header_list_is_bounded) {
  auto o = basic();
  o.allowed_headers = {"A"};
  o.max_request_headers_count = 4;
  o.max_request_headers_bytes = 64;
  app a{o};
  EXPECT_EQ(a.run(preflight("https://app.example.com", "GET", "a,a,a,a")).result(),
            http::status::no_content);
  EXPECT_EQ(a.run(preflight("https://app.example.com", "GET", "a,a,a,a,a")).result(),
            http::status::forbidden);
  EXPECT_EQ(a.run(preflight("https://app.example.com", "GET", std::string(64, ','))).result(),
            http::status::forbidden);
  // Split over two fields, the bound covers both.
  auto two = preflight("https://app.example.com", "GET", "a,a,a");
  two.insert(http::field::access_control_request_headers, "a,a");
  EXPECT_EQ(a.run(two).result(), http::status::forbidden);
  EXPECT_EQ(a.counter("request_headers_rejected"), 3u);

  o.max_request_headers_count = 0;
  EXPECT_NE(what_of(o).find("max_request_headers_bytes and max_request_headers_count"),
            std::string::npos);
}

TEST(cors, private_network_access_per_origin) {
  auto o = basic();
  o.production.origins = {"https://app.example.com", "https://other.example.com"};
  o.production.private_network = {"https://app.example.com"};
  app a{o};
  auto pna = [](std::string origin) {
    auto req = preflight(origin, "GET");
    req.set("Access-Control-Request-Private-Network", "true");
    return req;
  };
  auto yes = a.run(pna("https://app.example.com"));
  EXPECT_EQ(yes.result(), http::status::no_content);
  EXPECT_EQ(yes["Access-Control-Allow-Private-Network"], "true");
  auto no = a.run(pna("https://other.example.com"));
  EXPECT_EQ(no.result(), http::status::no_content);
  EXPECT_EQ(no.count("Access-Control-Allow-Private-Network"), 0u);
  // Without the request header, no grant either.
  EXPECT_EQ(a.run(preflight("https://app.example.com", "GET"))
                .count("Access-Control-Allow-Private-Network"),
            0u);
  EXPECT_EQ(a.counter("private_network_allowed"), 1u);
  EXPECT_EQ(a.counter("private_network_denied"), 1u);

  o.production.private_network = {"https://third.example.com"};
  EXPECT_NE(what_of(o).find("production.private_network[0] 'https://third.example.com' is not "
                            "listed in production.origins"),
            std::string::npos);
}

TEST(cors, invalid_tokens_and_values_fail_at_build) {
  struct bad {
    std::function<void(cors_options&)> edit;
    std::string message;
  };
  for (const auto& [edit, message] : std::vector<bad>{
           {[](auto& o) {
              o.methods = {"GET", ""};
            },
            "methods[1] '' is not a valid token"},
           {[](auto& o) { o.methods = {"*"}; }, "methods[0] '*' is a wildcard"},
           {[](auto& o) { o.allowed_headers = {"X-A,X-B"}; },
            "allowed_headers[0] 'X-A,X-B' is not a valid token"},
           {[](auto& o) { o.allowed_headers = {"*"}; }, "allowed_headers[0] '*' is a wildcard"},
           {[](auto& o) { o.exposed_headers = {"X A"}; },
            "exposed_headers[0] 'X A' is not a valid token"},
           {[](auto& o) { o.max_age = -1s; }, "max_age is negative"},
           {[](auto& o) { o.production.origins = {"https://a.example.com?x=1"}; },
            "has a query or fragment"},
           {[](auto& o) { o.production.origins = {"https://u@a.example.com"}; },
            "carries userinfo"},
           {[](auto& o) { o.production.origins = {"https://a.example.com:70000"}; },
            "has an invalid port"},
           {[](auto& o) { o.production.origins = {""}; }, "is empty"},
       }) {
    SCOPED_TRACE(message);
    auto o = basic();
    edit(o);
    auto what = what_of(o);
    EXPECT_EQ(what.rfind("cors: ", 0), 0u) << what;
    EXPECT_NE(what.find(message), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace portcullis
