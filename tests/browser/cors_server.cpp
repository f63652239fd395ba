// The server side of the CORS browser test: a portcullis::server on
// 127.0.0.1 (any free port) with two cors configurations that allow one
// origin, given on the command line:
//
//     cors_server http://localhost:41234
//
// - /cred/*: credentials on, Content-Type and X-Request-Id allowed,
//   X-RateLimit-Remaining exposed, GET/POST/PUT;
// - /open/*: the same without credentials;
// - /cred/limited: a 429 from a middleware behind cors (as a rate limiter
//   would answer), to show that errors stay readable;
// - /metrics: the cors counters (no CORS: read by the test runner itself).
//
// It prints "port <n>" once it listens, and runs until SIGTERM or SIGINT.
#include "portcullis/chain.hpp"
#include "portcullis/cors.hpp"
#include "portcullis/server.hpp"

#include <cstdio>
#include <memory>
#include <string>

namespace {

using namespace portcullis;

handler data() {
  return [](request& req, context&) -> asio::awaitable<response> {
    response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain");
    res.set("X-RateLimit-Remaining", "41");
    res.set("X-Hidden", "not exposed");
    res.body() = "data";
    res.prepare_payload();
    co_return res;
  };
}

// Echoes the JSON body, so that the page can see it arrived.
handler echo() {
  return [](request& req, context&) -> asio::awaitable<response> {
    co_return json_response(req, http::status::ok, req.body().empty() ? "null" : req.body());
  };
}

std::shared_ptr<cors> make_cors(const std::string& origin, bool credentials, std::string name) {
  cors_options o;
  o.production.origins = {origin};
  o.credentials = credentials;
  o.methods = {"GET", "POST", "PUT"};
  o.allowed_headers = {"Content-Type", "X-Request-Id"};
  o.exposed_headers = {"X-RateLimit-Remaining"};
  o.name = std::move(name);
  return std::make_shared<cors>(std::move(o));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: cors_server <allowed origin>\n");
    return 2;
  }
  auto cred = make_cors(argv[1], true, "cred");
  auto open = make_cors(argv[1], false, "open");

  chain::builder b;
  b.use("/cred", cred);
  b.use("/open", open);
  b.use("/cred/limited",
        make_middleware([](request& req, context& ctx, next_handler) -> asio::awaitable<response> {
          auto res = ctx.error(req, http::status::too_many_requests, "too many requests");
          res.set("X-RateLimit-Remaining", "0");
          co_return res;
        }));
  for (auto prefix : {"/cred", "/open"}) {
    std::string p = prefix;
    b.route(http::verb::get, p + "/data", data());
    b.route(http::verb::get, p + "/limited", data());
    b.route(http::verb::post, p + "/items", echo());
    b.route(http::verb::put, p + "/items", echo());
    b.route(http::verb::patch, p + "/items", echo());
  }
  std::shared_ptr<chain> app;  // /metrics reads the counters of the chain it is part of
  b.route(http::verb::get, "/metrics", [&app](request& req, context&) -> asio::awaitable<response> {
    std::string out;
    auto sets = app->counters();
    write_prometheus(out, sets);
    response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.body() = std::move(out);
    res.prepare_payload();
    co_return res;
  });
  app = std::make_shared<chain>(std::move(b).build());

  server_options so;
  so.address = "127.0.0.1";
  so.port = 0;
  so.threads = 2;
  server srv{*app, so};
  srv.start();
  std::printf("port %u\n", static_cast<unsigned>(srv.port()));
  std::fflush(stdout);
  srv.run();
  return 0;
}
