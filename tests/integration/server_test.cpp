// portcullis::server over real TCP on loopback, driven by a raw-socket
// client that sends exactly the bytes of each attack.
#include "portcullis/server.hpp"

#include "portcullis/errc.hpp"
#include "support/cases.hpp"
#include "support/raw_client.hpp"

#include <gtest/gtest.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

namespace portcullis {
namespace {

using namespace std::chrono_literals;
using test::raw_client;
using test::reply;

asio::awaitable<response> text(request& req, std::string body) {
  response res{http::status::ok, req.version()};
  res.set(http::field::content_type, "text/plain");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  co_return res;
}

// The test application: the routes the case file speaks of, plus a few
// that let the tests look inside.
chain test_app() {
  chain::builder b;
  b.body_limit(1024);
  b.route(http::verb::get, "/health", [](request& req, context&) { return text(req, "ok"); });
  b.route(http::verb::get, "/items", [](request& req, context& ctx) {
    return text(req, "items " + std::string(ctx.raw_query));
  });
  b.route(http::verb::post, "/users", [](request& req, context&) {
    return text(req, "got " + std::to_string(req.body().size()));
  });
  b.route(http::verb::post, "/upload",
          [](request& req, context&) {
            return text(req, "stored " + std::to_string(req.body().size()));
          },
          {.body_limit = 64 * 1024});
  // Answers after `ms` milliseconds (for requests in flight at shutdown).
  b.route(http::verb::get, "/slow", [](request& req, context& ctx) -> asio::awaitable<response> {
    auto ms = std::stoi(std::string(ctx.raw_query.substr(3)));
    asio::steady_timer t{co_await asio::this_coro::executor, std::chrono::milliseconds(ms)};
    co_await t.async_wait(asio::use_awaitable);
    co_return co_await text(req, "slept");
  });
  // How long until the request's deadline, in milliseconds.
  b.route(http::verb::get, "/deadline", [](request& req, context& ctx) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(ctx.deadline - ctx.time().now());
    return text(req, std::to_string(left.count()));
  });
  b.route(http::verb::get, "/throw", [](request&, context&) -> asio::awaitable<response> {
    throw std::runtime_error("secret detail");
    co_return response{};
  });
  return std::move(b).build();
}

server_options quiet(server_options o = {}) {
  o.port = 0;
  o.threads = 2;
  o.handle_signals = false;
  o.log = logger{std::make_shared<null_sink>(), log_level::off};
  return o;
}

struct running {
  explicit running(server_options o = {}) : srv(test_app(), quiet(std::move(o))) { srv.start(); }
  unsigned short port() const { return srv.port(); }
  server srv;
};

std::string get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: a\r\n" + std::string(extra) + "\r\n";
}

// "<2048 bytes>" and "<9000 x 'a'>" in the case file stand for that many bytes.
std::string expand(std::string raw) {
  for (;;) {
    auto open = raw.find('<');
    if (open == std::string::npos) return raw;
    auto close = raw.find('>', open);
    auto inner = raw.substr(open + 1, close - open - 1);
    char fill = inner.find("x '") != std::string::npos ? inner[inner.find("x '") + 3] : 'x';
    raw.replace(open, close - open + 1, std::string(std::stoul(inner), fill));
  }
}

TEST(server, framing_cases_from_the_shared_file) {
  running s;
  auto file = test::load_cases("framing/requests.json");
  test::expect_case_ids(
      file.at("cases"),
      {"declared-body-too-large", "chunked-too-large", "cl-and-te", "two-different-cl", "cl-list",
       "negative-cl", "te-not-final-chunked", "te-obfuscated", "obs-fold",
       "bare-lf-in-header-value", "header-too-large", "bad-chunk-size", "chunk-size-overflow",
       "pipelined-order", "expect-continue-over-limit"});
  for (const auto& c : file.at("cases")) {
    const auto id = c.at("id").get<std::string>();
    SCOPED_TRACE(id);
    raw_client client{s.port()};
    const auto sent = std::chrono::steady_clock::now();
    ASSERT_TRUE(client.send(expand(c.at("raw").get<std::string>())));

    std::vector<int> expected;
    if (c.at("expect_status").is_array())
      for (const auto& v : c.at("expect_status")) expected.push_back(v.get<int>());
    else
      expected.push_back(c.at("expect_status").get<int>());

    std::vector<reply> got;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      auto r = client.read();
      ASSERT_TRUE(r) << "no answer " << i;
      got.push_back(*r);
      EXPECT_EQ(r->status, expected[i]);
      // Refusals are JSON with an "error" member.
      if (r->status >= 400) {
        EXPECT_EQ(r->field("Content-Type"), "application/json");
        EXPECT_NE(r->body.find("\"error\""), std::string::npos) << r->body;
      }
    }
    // Answered at once: no deadline (seconds long here) was waited out.
    EXPECT_LT(std::chrono::steady_clock::now() - sent, 2s);

    if (c.at("close").get<bool>()) {
      EXPECT_EQ(got.back().field("Connection"), "close");
      EXPECT_TRUE(client.closed());
    } else {
      // Still open and in step: another request gets its own answer.
      ASSERT_TRUE(client.send(get("/health")));
      auto r = client.read();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->body, "ok");
    }
    if (id == "pipelined-order") {
      EXPECT_EQ(got[0].body, "ok");
      EXPECT_EQ(got[1].body, "items page=2");
    }
  }
  EXPECT_GE(s.srv.counters().value("bad_framing"), 9u);
  EXPECT_EQ(s.srv.counters().value("header_too_large"), 1u);
  EXPECT_EQ(s.srv.counters().value("body_too_large"), 3u);
}

TEST(server, slow_clients_from_the_shared_file) {
  running s{{.header_timeout = 1s, .body_timeout = 1s}};
  auto file = test::load_cases("framing/requests.json");
  test::expect_case_ids(file.at("slow_clients"), {"slow-header", "slow-body"});

  // Trickles `bytes` one every 300 ms until the server answers or closes;
  // returns the answer (if any) and how long the server took.
  auto trickle = [&](raw_client& client, const std::string& bytes) {
    const auto start = std::chrono::steady_clock::now();
    std::optional<reply> r;
    for (char c : bytes) {
      if (!client.send(std::string_view(&c, 1))) break;
      if ((r = client.read(300ms))) break;
      if (std::chrono::steady_clock::now() - start > 6s) break;
    }
    return std::make_pair(r, std::chrono::steady_clock::now() - start);
  };

  for (const auto& c : file.at("slow_clients")) {
    const auto id = c.at("id").get<std::string>();
    SCOPED_TRACE(id);
    raw_client client{s.port()};
    std::pair<std::optional<reply>, std::chrono::steady_clock::duration> got;
    if (id == "slow-header") {
      got = trickle(client, get("/health", "X-Padding: " + std::string(40, 'p') + "\r\n"));
    } else {
      ASSERT_TRUE(client.send("POST /users HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n"));
      got = trickle(client, std::string(1000, 'b'));
    }
    ASSERT_TRUE(got.first) << "the slow client was not cut off";
    EXPECT_EQ(got.first->status, 408);
    EXPECT_GE(got.second, 900ms);
    EXPECT_LT(got.second, 3s);
    EXPECT_TRUE(client.closed());
  }
  EXPECT_EQ(s.srv.counters().value("timeouts"), 2u);
}

TEST(server, declared_gigabyte_is_refused_without_reading_the_body) {
  running s;
  raw_client client{s.port()};
  ASSERT_TRUE(
      client.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1073741824\r\n\r\nabcdef"));
  auto r = client.read(1s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, R"({"error":"request body too large"})");
  EXPECT_TRUE(client.closed());
}

TEST(server, route_body_limits_apply) {
  running s;
  std::string body(5000, 'u');
  raw_client a{s.port()};
  ASSERT_TRUE(a.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + body));
  auto r = a.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "stored 5000");

  raw_client b{s.port()};
  ASSERT_TRUE(b.send("POST /users HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + body));
  r = b.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);

  // Chunked, within the limit, over several chunks.
  raw_client c{s.port()};
  ASSERT_TRUE(
      c.send("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "1000\r\n" +
             std::string(4096, 'c') + "\r\n10\r\n" + std::string(16, 'd') + "\r\n0\r\n\r\n"));
  r = c.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "stored 4112");
}

TEST(server, keep_alive_pipelining_head_and_connection_close) {
  running s;
  raw_client client{s.port()};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.send(get("/items?page=" + std::to_string(i))));
    auto r = client.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "items page=" + std::to_string(i));
    EXPECT_NE(r->field("Connection"), "close");
  }

  // HEAD: the header with the GET's length, no body; the stream stays in step.
  ASSERT_TRUE(client.send("HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n"));
  client.expect_head();
  auto h = client.read();
  client.expect_body();
  ASSERT_TRUE(h);
  EXPECT_EQ(h->field("Content-Length"), "2");

  // Ten pipelined requests, answered in order.
  std::string burst;
  for (int i = 0; i < 10; ++i) burst += get("/items?n=" + std::to_string(i));
  ASSERT_TRUE(client.send(burst));
  for (int i = 0; i < 10; ++i) {
    auto r = client.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "items n=" + std::to_string(i));
  }

  ASSERT_TRUE(client.send(get("/health", "Connection: close\r\n")));
  auto r = client.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->field("Connection"), "close");
  EXPECT_TRUE(client.closed());

  // HTTP/1.0 closes by default.
  raw_client old{s.port()};
  ASSERT_TRUE(old.send("GET /health HTTP/1.0\r\n\r\n"));
  r = old.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(old.closed());
}

// The reader holds a connection's bytes in a small buffer and moves them to
// a large one only for a request that needs it, freeing that again before
// the connection idles: requests on both sides of each move keep their
// bytes and their order.
TEST(server, requests_outgrowing_the_small_read_buffer_keep_their_bytes_and_order) {
  running s;
  raw_client client{s.port()};
  const std::string upload =
      "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'u');
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    // In one burst: the upload's bytes arrive behind a small request.
    ASSERT_TRUE(client.send(get("/items?n=1") + upload + get("/items?n=2")));
    for (std::string expected : {"items n=1", "stored 5000", "items n=2"}) {
      auto r = client.read();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->body, expected);
    }
    // After the idle wait: a header alone larger than the small buffer.
    ASSERT_TRUE(client.send(get("/items?n=3", "X-Pad: " + std::string(3000, 'p') + "\r\n")));
    auto r = client.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "items n=3");
  }
}

TEST(server, expect_continue_within_the_limit) {
  running s;
  raw_client client{s.port()};
  ASSERT_TRUE(client.send(
      "POST /users HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"));
  auto r = client.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 100);
  ASSERT_TRUE(client.send("0123456789"));
  r = client.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "got 10");
}

TEST(server, idle_connection_is_closed) {
  running s{{.idle_timeout = 500ms}};
  raw_client client{s.port()};
  ASSERT_TRUE(client.send(get("/health")));
  ASSERT_TRUE(client.read());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.closed(3s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 400ms);
  EXPECT_EQ(s.srv.counters().value("idle_closed"), 1u);
}

TEST(server, request_deadline_reaches_the_context) {
  running s{{.request_timeout = 5s}};
  raw_client client{s.port()};
  ASSERT_TRUE(client.send(get("/deadline")));
  auto r = client.read();
  ASSERT_TRUE(r);
  auto left = std::stol(r->body);
  EXPECT_GT(left, 4000);
  EXPECT_LE(left, 5000);
}

TEST(server, exception_without_error_handler_is_a_bare_500) {
  running s;
  raw_client client{s.port()};
  ASSERT_TRUE(client.send(get("/throw")));
  auto r = client.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body.find("secret"), std::string::npos);
  EXPECT_EQ(s.srv.counters().value("handler_errors"), 1u);
}

TEST(server, connection_caps_refuse_a_flood) {
  running s{{.max_connections = 6, .max_connections_per_client = 4}};
  std::vector<std::unique_ptr<raw_client>> held;
  for (int i = 0; i < 4; ++i) held.push_back(std::make_unique<raw_client>(s.port()));
  // Make sure the server has taken all four before the flood.
  for (auto& c : held) {
    ASSERT_TRUE(c->send(get("/health")));
    ASSERT_TRUE(c->read());
  }

  // A flood from the same address: every one closed at once.
  for (int i = 0; i < 20; ++i) {
    raw_client extra{s.port()};
    EXPECT_TRUE(extra.closed(1s)) << i;
  }
  EXPECT_EQ(s.srv.counters().value("rejected_connections"), 20u);

  // Other addresses still get in, up to the total cap.
  raw_client b1{s.port(), "127.0.0.2"};
  raw_client b2{s.port(), "127.0.0.2"};
  for (auto* c : {&b1, &b2}) {
    ASSERT_TRUE(c->send(get("/health")));
    ASSERT_TRUE(c->read());
  }
  raw_client c1{s.port(), "127.0.0.3"};
  EXPECT_TRUE(c1.closed(1s));

  // A slot freed is a slot reused.
  held.pop_back();
  std::this_thread::sleep_for(200ms);
  raw_client again{s.port()};
  ASSERT_TRUE(again.send(get("/health")));
  auto r = again.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// A plain IPv6 connection to [::1]:port that says whether the server
// answers it (admitted) or closes it at once (refused by a cap).
bool admitted_over_ipv6(unsigned short port, std::vector<int>& held) {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  to.sin6_port = htons(port);
  to.sin6_addr = in6addr_loopback;
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) return false;
  held.push_back(fd);
  const std::string req = get("/health");
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    return false;
  pollfd p{fd, POLLIN, 0};
  char buf[512];
  return ::poll(&p, 1, 3000) == 1 && ::recv(fd, buf, sizeof buf, 0) > 0;
}

TEST(server, an_ipv6_client_is_its_slash_64) {
  // Two addresses of one /64 are one client; the next /64 is another; IPv4
  // (also IPv4-mapped) stays per address.
  using detail::connection_cap_key;
  const auto a = [](std::string_view s) { return *parse_address(s); };
  EXPECT_EQ(connection_cap_key(a("2001:db8:1:2::5")),
            connection_cap_key(a("2001:db8:1:2:ffff::1")));
  EXPECT_EQ(connection_cap_key(a("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), a("2001:db8:1:2::"));
  EXPECT_NE(connection_cap_key(a("2001:db8:1:2::5")), connection_cap_key(a("2001:db8:1:3::5")));
  EXPECT_EQ(connection_cap_key(ip_address(asio::ip::make_address_v6("::ffff:10.0.0.1"))),
            a("10.0.0.1"));
  EXPECT_NE(connection_cap_key(a("10.0.0.1")), connection_cap_key(a("10.0.0.2")));

  // Over real IPv6 loopback: the cap holds, and a freed slot is reused.
  running s{{.address = "::1", .max_connections_per_client = 2}};
  std::vector<int> held;
  EXPECT_TRUE(admitted_over_ipv6(s.port(), held));
  EXPECT_TRUE(admitted_over_ipv6(s.port(), held));
  EXPECT_FALSE(admitted_over_ipv6(s.port(), held));
  EXPECT_EQ(s.srv.counters().value("rejected_connections"), 1u);
  for (int fd : held) ::close(fd);
  held.clear();
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(admitted_over_ipv6(s.port(), held));
  for (int fd : held) ::close(fd);
}

TEST(server, stop_lets_the_request_in_flight_finish) {
  auto s = std::make_unique<running>(server_options{.drain_timeout = 5s});
  raw_client busy{s->port()};
  raw_client idle{s->port()};
  ASSERT_TRUE(idle.send(get("/health")));
  ASSERT_TRUE(idle.read());

  ASSERT_TRUE(busy.send(get("/slow?ms=700")));
  std::this_thread::sleep_for(200ms);
  const auto start = std::chrono::steady_clock::now();
  std::thread stopper([&] { s->srv.stop(); });

  // The idle connection goes at once; the busy one gets its answer.
  EXPECT_TRUE(idle.closed(1s));
  auto r = busy.read(3s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "slept");
  EXPECT_EQ(r->field("Connection"), "close");
  EXPECT_TRUE(busy.closed());
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(s->srv.counters().value("drain_forced"), 0u);

  // No longer listening.
  EXPECT_THROW(raw_client{s->port()}, std::runtime_error);
}

TEST(server, stop_closes_what_outlives_the_drain_deadline) {
  running s{{.drain_timeout = 300ms}};
  raw_client busy{s.port()};
  ASSERT_TRUE(busy.send(get("/slow?ms=5000")));
  std::this_thread::sleep_for(200ms);
  const auto start = std::chrono::steady_clock::now();
  s.srv.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(s.srv.counters().value("drain_forced"), 1u);
  EXPECT_TRUE(busy.closed(1s));
}

TEST(server, run_returns_after_stop_from_another_thread) {
  server srv{test_app(), quiet()};
  std::thread runner([&] { srv.run(); });
  while (srv.port() == 0) std::this_thread::sleep_for(10ms);
  raw_client client{srv.port()};
  ASSERT_TRUE(client.send(get("/health")));
  ASSERT_TRUE(client.read());
  srv.stop();
  runner.join();
}

// The chain built on the server's own executor: what a handler of it runs
// on is the executor that was handed to the factory, and an I/O object made
// on that executor is served by the server's threads.
TEST(server, builds_the_chain_on_its_own_executor) {
  std::optional<asio::any_io_executor> given;
  std::atomic<bool> same{false};
  std::unique_ptr<asio::steady_timer> timer;  // made on the handed executor
  server srv{quiet(), [&](const asio::any_io_executor& io) {
               given = io;
               timer = std::make_unique<asio::steady_timer>(io);
               chain::builder b;
               b.route(http::verb::get, "/wait",
                       [&](request& req, context&) -> asio::awaitable<response> {
                         auto ex = co_await asio::this_coro::executor;
                         // A strand of the server's io_context: the same context.
                         same = &asio::query(ex, asio::execution::context) ==
                                &asio::query(*given, asio::execution::context);
                         timer->expires_after(1ms);
                         co_await timer->async_wait(asio::use_awaitable);
                         co_return co_await text(req, "waited");
                       });
               return std::move(b).build();
             }};
  ASSERT_TRUE(given.has_value());
  srv.start();
  raw_client client{srv.port()};
  ASSERT_TRUE(client.send(get("/wait")));
  auto r = client.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "waited");
  EXPECT_TRUE(same.load());
  srv.stop();
  timer.reset();  // before the server (and its io_context) goes

  EXPECT_THROW((server{quiet(), std::function<chain(const asio::any_io_executor&)>{}}),
               config_error);
  EXPECT_THROW(
      (server{quiet({.header_limit = 0}), [](const asio::any_io_executor&) { return test_app(); }}),
      config_error);
}

TEST(server, options_are_checked) {
  auto build = [](server_options o) { server srv{test_app(), std::move(o)}; };
  EXPECT_THROW(build({.address = "localhost"}), config_error);
  EXPECT_THROW(build({.header_limit = 0}), config_error);
  EXPECT_THROW(build({.header_timeout = 0s}), config_error);
  EXPECT_THROW(build({.max_connections = 10, .max_connections_per_client = 20}), config_error);
  EXPECT_THROW(build({.tls = tls_options{"/nonexistent/cert.pem", "/nonexistent/key.pem"}}),
               config_error);
  try {
    build({.address = "localhost"});
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("address"), std::string::npos);
  }
}

TEST(server, bind_failure_throws) {
  running a;
  server_options o = quiet();
  o.port = a.port();
  server c{test_app(), o};
  EXPECT_THROW(c.start(), std::system_error);
  EXPECT_EQ(c.port(), 0);
}

// A self-signed certificate for "localhost", made with the openssl CLI.
struct certificate {
  certificate() {
    dir = std::filesystem::temp_directory_path() / ("portcullis-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
        " -keyout '" +
        (dir / "key.pem").string() + "' -out '" + (dir / "cert.pem").string() + "' 2>/dev/null";
    ok = std::system(cmd.c_str()) == 0;
  }
  ~certificate() { std::filesystem::remove_all(dir); }
  std::filesystem::path dir;
  bool ok = false;
};

TEST(server, tls_serves_with_the_same_limits) {
  certificate cert;
  ASSERT_TRUE(cert.ok) << "openssl could not make a certificate";
  running s{
      {.header_timeout = 1s,
       .tls = tls_options{(cert.dir / "cert.pem").string(), (cert.dir / "key.pem").string()}}};

  raw_client client{s.port()};
  ASSERT_TRUE(client.start_tls());
  EXPECT_TRUE(client.tls_version() == "TLSv1.3" || client.tls_version() == "TLSv1.2");
  ASSERT_TRUE(client.send(get("/health")));
  auto r = client.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ok");
  // Keep-alive over TLS, then a refusal over TLS.
  ASSERT_TRUE(client.send(get("/health", "X-Big: " + std::string(9000, 'a') + "\r\n")));
  r = client.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(client.closed());

  // TLS 1.1 is refused.
  raw_client old{s.port()};
  EXPECT_FALSE(old.start_tls(TLS1_1_VERSION));

  // A client that never starts the handshake is cut off by the header deadline.
  raw_client mute{s.port()};
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(mute.closed(3s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 800ms);
  EXPECT_GE(s.srv.counters().value("tls_handshake_failures"), 2u);
}

// A client that never answers our close_notify cannot hold the connection
// for the write timeout: the TCP connection ends about 1 s after the answer.
TEST(server, tls_close_waits_for_the_peers_close_notify_at_most_a_second) {
  certificate cert;
  ASSERT_TRUE(cert.ok) << "openssl could not make a certificate";
  running s{
      {.write_timeout = 20s,
       .tls = tls_options{(cert.dir / "cert.pem").string(), (cert.dir / "key.pem").string()}}};

  raw_client client{s.port()};
  ASSERT_TRUE(client.start_tls());
  ASSERT_TRUE(client.send(get("/health", "Connection: close\r\n")));
  auto r = client.read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  const auto answered = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.closed(3s));  // the server's close_notify; ours is never sent

  // Now the TCP connection itself: EOF once the server gives up waiting.
  pollfd p{client.fd(), POLLIN, 0};
  char buf[256];
  ssize_t n = 1;
  while (n > 0 && ::poll(&p, 1, 5000) == 1) n = ::recv(client.fd(), buf, sizeof buf, 0);
  const auto waited = std::chrono::steady_clock::now() - answered;
  EXPECT_LE(n, 0) << "the server kept the connection open";
  EXPECT_GE(waited, 800ms);
  EXPECT_LT(waited, 3s);
}

}  // namespace
}  // namespace portcullis
