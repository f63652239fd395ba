#include "portcullis/chain.hpp"

#include "portcullis/blocking.hpp"
#include "portcullis/errc.hpp"

#include <gtest/gtest.h>

namespace portcullis {
namespace {

handler reply(std::string text) {
  return [text](request& req, context& ctx) -> asio::awaitable<response> {
    std::string body = text;
    for (auto p : ctx.params()) body += ";" + std::string(p.name) + "=" + std::string(p.value);
    response res{http::status::ok, req.version()};
    res.body() = body;
    res.prepare_payload();
    co_return res;
  };
}

request make(http::verb v, std::string target) {
  request req{v, target, 11};
  req.set(http::field::host, "a");
  return req;
}

// A middleware that records its name into a header, before and after.
std::shared_ptr<const middleware> tag(std::string name) {
  return make_middleware(
      [name](request& req, context& ctx, next_handler next) -> asio::awaitable<response> {
        std::string seen(req[http::field::via]);
        req.set(http::field::via, seen + name + ">");
        auto res = co_await next(req, ctx);
        res.insert("X-Order", name);
        co_return res;
      });
}

response run(const chain& c, request req, ip_address peer = {}) {
  context ctx{peer};
  return run_blocking(c, req, ctx);
}

TEST(chain, routes_exact_param_and_prefix) {
  chain::builder b;
  b.route(http::verb::get, "/health", reply("health"));
  b.route(http::verb::delete_, "/api-keys/{id}", reply("revoke"));
  b.route(http::verb::get, "/static/*", reply("static"));
  b.route(http::verb::get, "/", reply("root"));
  auto c = std::move(b).build();

  EXPECT_EQ(run(c, make(http::verb::get, "/health")).body(), "health");
  EXPECT_EQ(run(c, make(http::verb::get, "/health?x=1")).body(), "health");
  EXPECT_EQ(run(c, make(http::verb::delete_, "/api-keys/k_12")).body(), "revoke;id=k_12");
  EXPECT_EQ(run(c, make(http::verb::get, "/static")).body(), "static");
  EXPECT_EQ(run(c, make(http::verb::get, "/static/a/b.css")).body(), "static");
  EXPECT_EQ(run(c, make(http::verb::get, "/")).body(), "root");
  EXPECT_EQ(run(c, make(http::verb::get, "http://h.example/health")).body(), "health");

  // Byte-for-byte: no case folding, no trailing slash, no decoding.
  for (auto t : {"/Health", "/health/", "/%68ealth", "/staticx", "/api-keys/", "/api-keys/a/b"}) {
    auto res = run(c, make(http::verb::get, t));
    EXPECT_TRUE(res.result() == http::status::not_found ||
                res.result() == http::status::method_not_allowed)
        << t;
  }
}

TEST(chain, not_found_and_method_not_allowed_are_json) {
  chain::builder b;
  b.route(http::verb::get, "/items", reply("items"));
  b.route(http::verb::post, "/items", reply("new"));
  auto c = std::move(b).build();

  auto nf = run(c, make(http::verb::get, "/nope"));
  EXPECT_EQ(nf.result(), http::status::not_found);
  EXPECT_EQ(nf[http::field::content_type], "application/json");
  EXPECT_EQ(nf.body(), R"({"error":"not found"})");

  auto na = run(c, make(http::verb::put, "/items"));
  EXPECT_EQ(na.result(), http::status::method_not_allowed);
  EXPECT_EQ(na[http::field::allow], "GET, HEAD, OPTIONS, POST");

  auto opt = run(c, make(http::verb::options, "/items"));
  EXPECT_EQ(opt.result(), http::status::no_content);
  EXPECT_EQ(opt[http::field::allow], "GET, HEAD, OPTIONS, POST");

  // HEAD falls back to GET.
  EXPECT_EQ(run(c, make(http::verb::head, "/items")).body(), "items");

  EXPECT_EQ(c.counters().front()->value("not_found"), 1u);
  EXPECT_EQ(c.counters().front()->value("method_not_allowed"), 1u);
}

TEST(chain, middleware_order_prefixes_and_route_middleware) {
  chain::builder b;
  b.use(tag("outer"));
  b.use("/api", tag("api"));
  b.use("/api/", tag("api2"));  // a trailing slash means the same prefix
  b.use("/other", tag("other"));
  b.route(http::verb::get, "/api/items", reply("ok"), {.middleware = {tag("route")}});
  b.route(http::verb::get, "/apix", reply("x"));
  auto c = std::move(b).build();

  auto res = run(c, make(http::verb::get, "/api/items"));
  EXPECT_EQ(res.body(), "ok");
  // Decorations happen on the way out: innermost first.
  std::vector<std::string> order;
  for (const auto& f : res)
    if (f.name_string() == "X-Order") order.emplace_back(f.value());
  EXPECT_EQ(order, (std::vector<std::string>{"route", "api2", "api", "outer"}));

  // "/api" does not cover "/apix"; unmatched requests still pass the use() layers.
  auto x = run(c, make(http::verb::get, "/apix"));
  EXPECT_EQ(x.count("X-Order"), 1u);
  auto nf = run(c, make(http::verb::get, "/api/none"));
  EXPECT_EQ(nf.result(), http::status::not_found);
  EXPECT_EQ(nf.count("X-Order"), 3u);
}

TEST(chain, short_circuit_skips_the_rest) {
  chain::builder b;
  b.use(make_middleware([](request& req, context& ctx, next_handler) -> asio::awaitable<response> {
    co_return ctx.error(req, http::status::too_many_requests, "slow down");
  }));
  bool ran = false;
  b.route(http::verb::get, "/x", [&ran](request& req, context&) -> asio::awaitable<response> {
    ran = true;
    co_return response{http::status::ok, req.version()};
  });
  auto c = std::move(b).build();
  auto res = run(c, make(http::verb::get, "/x"));
  EXPECT_EQ(res.result(), http::status::too_many_requests);
  EXPECT_EQ(res.body(), R"({"error":"slow down"})");
  EXPECT_FALSE(ran);
}

TEST(chain, bad_configuration_fails_at_build) {
  chain::builder b;
  b.route(http::verb::get, "/a", reply("a"));
  EXPECT_THROW(b.route(http::verb::get, "/a", reply("again")), config_error);
  for (auto p : {"", "a", "/a/{", "/a/{}", "/a/*/b", "/a//b", "/a?x",
                 "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}"})
    EXPECT_THROW(b.route(http::verb::get, p, reply("x")), config_error) << p;
  EXPECT_THROW(b.use(nullptr), config_error);
  EXPECT_THROW(b.use("api", tag("x")), config_error);
  EXPECT_THROW(b.route(http::verb::get, "/b", handler{}), config_error);
  try {
    b.route(http::verb::get, "/a", reply("again"));
  } catch (const config_error& e) {
    EXPECT_EQ(e.code(), errc::invalid_config);
    EXPECT_NE(std::string(e.what()).find("GET /a is added twice"), std::string::npos);
  }
}

TEST(chain, body_limits_per_route) {
  chain::builder b;
  b.body_limit(100 * 1024);
  b.route(http::verb::post, "/upload", reply("u"), {.body_limit = 10u << 20});
  b.route(http::verb::post, "/users", reply("u"));
  auto c = std::move(b).build();
  EXPECT_EQ(c.body_limit_for(http::verb::post, "/upload?x"), 10u << 20);
  EXPECT_EQ(c.body_limit_for(http::verb::post, "/users"), 100u * 1024);
  EXPECT_EQ(c.body_limit_for(http::verb::post, "/nothing"), 100u * 1024);
}

TEST(chain, context_gets_client_request_id_and_query) {
  forwarding_options fwd;
  fwd.trusted_proxies = {"127.0.0.1"};
  chain::builder b;
  b.forwarding(fwd);
  b.route(http::verb::get, "/who", [](request& req, context& ctx) -> asio::awaitable<response> {
    response res{http::status::ok, req.version()};
    res.body() = ctx.client_address.to_string() + "|" + std::string(ctx.raw_query) + "|" +
                 (ctx.https ? "https" : "http") + "|" + std::to_string(ctx.request_id.size());
    co_return res;
  });
  auto c = std::move(b).build();
  auto req = make(http::verb::get, "/who?page=2");
  req.set("X-Forwarded-For", "198.51.100.9");
  req.set("X-Forwarded-Proto", "https");
  auto res = run(c, req, *parse_address("127.0.0.1"));
  EXPECT_EQ(res.body(), "198.51.100.9|page=2|https|15");

  // From an untrusted peer the headers are ignored and counted.
  auto res2 = run(c, req, *parse_address("203.0.113.5"));
  EXPECT_EQ(res2.body(), "203.0.113.5|page=2|http|15");
  EXPECT_EQ(c.counters().front()->value("untrusted_forwarding"), 1u);
}

TEST(chain, exceptions_reach_run_blocking_without_an_error_handler) {
  chain::builder b;
  b.route(http::verb::get, "/boom", [](request&, context&) -> asio::awaitable<response> {
    throw std::runtime_error("boom");
    co_return response{};
  });
  auto c = std::move(b).build();
  auto req = make(http::verb::get, "/boom");
  context ctx;
  EXPECT_THROW(run_blocking(c, req, ctx), std::runtime_error);
}

}  // namespace
}  // namespace portcullis
