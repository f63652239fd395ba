#include "portcullis/rate_limit.hpp"

#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"
#include "portcullis/errc.hpp"
#include "portcullis/memory_rate_limit_store.hpp"
#include "support/cases.hpp"

// The reference server's own configuration, tested as it ships.
#include "../../examples/secure_api/rate_limits.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <mutex>

namespace portcullis {
namespace {

using namespace std::chrono_literals;

// Keeps every log line, for asserting warnings.
class capture_sink final : public log_sink {
 public:
  void write(log_level, std::string_view event, std::span<const log_field>) override {
    std::lock_guard lock(m_);
    events_.emplace_back(event);
  }
  int count(std::string_view event) {
    std::lock_guard lock(m_);
    return static_cast<int>(std::count(events_.begin(), events_.end(), event));
  }

 private:
  std::mutex m_;
  std::vector<std::string> events_;
};

// base64 of the first 12 bytes of SHA-256(key), computed independently
// with OpenSSL's own encoder.
std::string expected_pk(std::string_view key) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  unsigned char out[32] = {};
  EVP_EncodeBlock(out, digest, 12);
  return reinterpret_cast<const char*>(out);
}

handler answer(http::status status = http::status::ok) {
  return [status](request& req, context&) -> asio::awaitable<response> {
    response res{status, req.version()};
    res.body() = "ok";
    res.prepare_payload();
    co_return res;
  };
}

struct fixture {
  manual_clock clk;
  std::shared_ptr<memory_rate_limit_store> store =
      std::make_shared<memory_rate_limit_store>(memory_store_options{}, clk);
  std::shared_ptr<capture_sink> sink = std::make_shared<capture_sink>();

  rate_limit_options options(std::string name, rate_policy p) {
    rate_limit_options o;
    o.name = std::move(name);
    o.policy = p;
    o.store = store;
    o.log = logger(sink, log_level::debug);
    return o;
  }

  chain one(std::shared_ptr<const middleware> mw, handler h = answer()) {
    chain::builder b;
    b.time(clk);
    b.use(std::move(mw));
    b.route(http::verb::get, "/x", h);
    b.route(http::verb::post, "/x", h);
    return std::move(b).build();
  }

  response get(const chain& c, std::string_view peer = "203.0.113.7", std::string body = {},
               http::verb v = http::verb::get) {
    request req{v, "/x", 11};
    req.set(http::field::host, "a");
    if (!body.empty()) {
      req.body() = std::move(body);
      req.prepare_payload();
    }
    context ctx{*parse_address(peer), false, clk};
    return run_blocking(c, req, ctx);
  }
};

TEST(rate_limit, every_ip_key_case) {
  auto file = test::load_cases("ratelimit/ip_keys.json");
  test::expect_case_ids(file.at("cases"), {"ipv4-mapped-is-ipv4", "ipv6-rotation-in-prefix"});
  for (const auto& c : file.at("cases")) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    fixture f;
    auto lim = std::make_shared<rate_limit>(f.options(
        "ip", rate_policy::fixed_window(rate::per(c.at("limit").get<std::uint64_t>(), 60s))));
    auto app = f.one(lim);
    for (const auto& r : c.at("requests")) {
      const auto peer = r.at(0).get<std::string>();
      // The peer is given as written; context unmaps IPv4-mapped addresses.
      auto addr = boost::asio::ip::make_address(peer);
      request req{http::verb::get, "/x", 11};
      context ctx{addr, false, f.clk};
      auto res = run_blocking(app, req, ctx);
      EXPECT_EQ(res.result() == http::status::ok, r.at(1).get<bool>()) << peer;
    }
  }
}

// The window edges over the chain: the last allowed request, the first
// denied, the first after reset; every header value.
TEST(rate_limit, draft7_headers_at_the_window_edges) {
  fixture f;
  auto lim = std::make_shared<rate_limit>(
      f.options("api", rate_policy::fixed_window(rate::per(3, 15min))));
  auto app = f.one(lim);

  auto r1 = f.get(app);
  EXPECT_EQ(r1.result(), http::status::ok);
  EXPECT_EQ(r1["RateLimit-Policy"], "3;w=900");
  EXPECT_EQ(r1["RateLimit"], "limit=3, remaining=2, reset=900");
  f.clk.advance(10s);
  f.get(app);
  auto last = f.get(app);
  EXPECT_EQ(last.result(), http::status::ok);
  EXPECT_EQ(last["RateLimit"], "limit=3, remaining=0, reset=890");
  EXPECT_EQ(last.count(http::field::retry_after), 0u);

  f.clk.advance(500ms);
  auto denied = f.get(app);
  EXPECT_EQ(denied.result(), http::status::too_many_requests);
  EXPECT_EQ(denied[http::field::content_type], "application/json");
  EXPECT_EQ(denied.body(), R"({"error":"too many requests"})");
  EXPECT_EQ(denied["RateLimit"], "limit=3, remaining=0, reset=890");  // 889.5 rounded up
  EXPECT_EQ(denied[http::field::retry_after], "890");

  f.clk.advance(889s);
  auto edge = f.get(app);
  EXPECT_EQ(edge[http::field::retry_after], "1");  // 0.5 s left: at least 1
  f.clk.advance(500ms);
  auto again = f.get(app);
  EXPECT_EQ(again.result(), http::status::ok);
  EXPECT_EQ(again["RateLimit"], "limit=3, remaining=2, reset=900");

  EXPECT_EQ(lim->counters()->value("allowed"), 4u);
  EXPECT_EQ(lim->counters()->value("limited"), 2u);
}

TEST(rate_limit, draft6_draft8_ietf_and_legacy_forms) {
  fixture f;
  auto policy = rate_policy::fixed_window(rate::per(100, 15min));

  auto o6 = f.options("d6", policy);
  o6.headers = rate_limit_headers::draft6;
  o6.legacy_headers = true;
  auto r6 = f.get(f.one(std::make_shared<rate_limit>(o6)));
  EXPECT_EQ(r6["RateLimit-Policy"], "100;w=900");
  EXPECT_EQ(r6["RateLimit-Limit"], "100");
  EXPECT_EQ(r6["RateLimit-Remaining"], "99");
  EXPECT_EQ(r6["RateLimit-Reset"], "900");
  EXPECT_EQ(r6.count("RateLimit"), 0u);
  // Legacy reset is an epoch time: the manual clock's wall time plus 900 s.
  const auto epoch =
      std::chrono::duration_cast<std::chrono::seconds>(f.clk.wall_now().time_since_epoch());
  EXPECT_EQ(r6["X-RateLimit-Reset"], std::to_string(epoch.count() + 900));
  EXPECT_EQ(r6["X-RateLimit-Limit"], "100");
  EXPECT_EQ(r6["X-RateLimit-Remaining"], "99");

  auto o8 = f.options("d8", policy);
  o8.headers = rate_limit_headers::draft8;
  auto r8 = f.get(f.one(std::make_shared<rate_limit>(o8)));
  // pk: base64 of the first 12 bytes of SHA-256("ip:203.0.113.7").
  EXPECT_EQ(r8["RateLimit-Policy"],
            "\"100-in-15min\";q=100;w=900;pk=:" + expected_pk("ip:203.0.113.7") + ":");
  EXPECT_EQ(r8["RateLimit"], "\"100-in-15min\";r=99;t=900");

  auto oi = f.options("api", policy);
  oi.headers = rate_limit_headers::ietf;
  auto app = f.one(std::make_shared<rate_limit>(oi));
  auto ri = f.get(app);
  EXPECT_EQ(ri["RateLimit"], "\"api\";r=99;t=900");
  const std::string pk_a = std::string(ri["RateLimit-Policy"]);
  const std::string pk_b = std::string(f.get(app, "198.51.100.1")["RateLimit-Policy"]);
  EXPECT_EQ(pk_a.rfind("\"api\";q=100;w=900;pk=:", 0), 0u) << pk_a;
  EXPECT_NE(pk_a, pk_b) << "different clients, different partition keys";
  EXPECT_EQ(pk_a, std::string(f.get(app)["RateLimit-Policy"])) << "stable per client";
  EXPECT_EQ(pk_a.find("203.0.113.7"), std::string::npos) << "the key itself never leaks";

  auto on = f.options("quiet", policy);
  on.headers = rate_limit_headers::none;
  auto rn = f.get(f.one(std::make_shared<rate_limit>(on)));
  EXPECT_EQ(rn.count("RateLimit"), 0u);
  EXPECT_EQ(rn.count("RateLimit-Policy"), 0u);

  EXPECT_EQ(parse_rate_limit_headers("draft-8"), rate_limit_headers::draft8);
  EXPECT_THROW(parse_rate_limit_headers("draft-9"), config_error);
}

TEST(rate_limit, buckets_report_burst_and_refill_time) {
  fixture f;
  auto o = f.options("gcra", rate_policy::gcra(rate::per_second(1)).with_burst(3));
  auto app = f.one(std::make_shared<rate_limit>(o));
  auto r = f.get(app);
  EXPECT_EQ(r["RateLimit-Policy"], "3;w=3");
  EXPECT_EQ(r["RateLimit"], "limit=3, remaining=2, reset=1");
  f.get(app);
  f.get(app);
  auto d = f.get(app);
  EXPECT_EQ(d.result(), http::status::too_many_requests);
  EXPECT_EQ(d[http::field::retry_after], "1");
  EXPECT_EQ(d["RateLimit"], "limit=3, remaining=0, reset=1");
}

TEST(rate_limit, several_limiters_merge_into_one_set_of_headers) {
  fixture f;
  auto global = std::make_shared<rate_limit>(
      f.options("global", rate_policy::fixed_window(rate::per_minute(10))));
  auto route = std::make_shared<rate_limit>(
      f.options("login", rate_policy::fixed_window(rate::per_minute(2))));
  chain::builder b;
  b.time(f.clk);
  b.use(global);
  b.route(http::verb::get, "/x", answer(), {.middleware = {route}});
  auto app = std::move(b).build();

  auto r = f.get(app);
  EXPECT_EQ(r["RateLimit-Policy"], "10;w=60, 2;w=60");
  EXPECT_EQ(r["RateLimit"], "limit=2, remaining=1, reset=60");  // the tighter one
  f.get(app);
  auto d = f.get(app);
  EXPECT_EQ(d.result(), http::status::too_many_requests);
  EXPECT_EQ(d["RateLimit"], "limit=2, remaining=0, reset=60");
  EXPECT_EQ(d[http::field::retry_after], "60");
  // One header field each, never duplicated.
  EXPECT_EQ(d.count("RateLimit"), 1u);
  EXPECT_EQ(d.count("RateLimit-Policy"), 1u);
  EXPECT_EQ(d.count(http::field::retry_after), 1u);

  // The list forms carry one item per policy.
  auto gi = f.options("g8", rate_policy::fixed_window(rate::per_minute(10)));
  gi.headers = rate_limit_headers::ietf;
  auto ri = f.options("r8", rate_policy::fixed_window(rate::per_minute(2)));
  ri.headers = rate_limit_headers::ietf;
  chain::builder b2;
  b2.time(f.clk);
  b2.use(std::make_shared<rate_limit>(gi));
  b2.route(http::verb::get, "/x", answer(), {.middleware = {std::make_shared<rate_limit>(ri)}});
  auto app2 = std::move(b2).build();
  auto r2 = f.get(app2);
  EXPECT_EQ(r2["RateLimit"], "\"g8\";r=9;t=60, \"r8\";r=1;t=60");
}

TEST(rate_limit, skip_cost_and_refunds) {
  fixture f;
  auto o = f.options("login", rate_policy::fixed_window(rate::per_minute(3)));
  o.skip = [](const request& req, const context&) { return req.method() == http::verb::post; };
  o.cost = [](const request& req, const context&) -> std::uint64_t {
    return req.target() == "/x" && req.count("X-Heavy") ? 2 : 1;
  };
  auto lim = std::make_shared<rate_limit>(o);
  auto app = f.one(lim);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(f.get(app, "203.0.113.7", "{}", http::verb::post).result(), http::status::ok);
  EXPECT_EQ(lim->counters()->value("skipped"), 5u);
  EXPECT_EQ(f.get(app)["RateLimit"], "limit=3, remaining=2, reset=60");

  // skip_successful: only failures count (the login defence).
  fixture g;
  auto so = g.options("ok", rate_policy::fixed_window(rate::per_minute(2)));
  so.skip_successful = true;
  auto ok_lim = std::make_shared<rate_limit>(so);
  auto ok_app = g.one(ok_lim, answer(http::status::ok));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(g.get(ok_app).result(), http::status::ok);
  EXPECT_EQ(ok_lim->counters()->value("refunded"), 10u);

  auto fo = g.options("fail", rate_policy::fixed_window(rate::per_minute(2)));
  fo.skip_failed = true;
  auto fail_lim = std::make_shared<rate_limit>(fo);
  auto fail_app = g.one(fail_lim, answer(http::status::unauthorized));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(g.get(fail_app).result(), http::status::unauthorized);

  // A handler that throws (a client that went away) counts as failed.
  auto to = g.options("throws", rate_policy::fixed_window(rate::per_minute(1)));
  to.skip_failed = true;
  auto throw_lim = std::make_shared<rate_limit>(to);
  auto throw_app = g.one(throw_lim, [](request&, context&) -> asio::awaitable<response> {
    throw std::system_error(make_error_code(errc::cancelled));
    co_return response{};
  });
  for (int i = 0; i < 3; ++i) EXPECT_THROW(g.get(throw_app), std::system_error);
  EXPECT_EQ(throw_lim->counters()->value("refunded"), 3u);
  EXPECT_EQ(throw_lim->counters()->value("limited"), 0u);
}

TEST(rate_limit, refund_never_reaches_into_an_ended_window) {
  fixture f;
  auto o = f.options("slow", rate_policy::fixed_window(rate::per_minute(1)));
  o.skip_successful = true;
  // The handler takes the request across the window's end.
  auto app = f.one(std::make_shared<rate_limit>(o),
                   [&f](request& req, context&) -> asio::awaitable<response> {
                     f.clk.advance(61s);
                     response res{http::status::ok, req.version()};
                     co_return res;
                   });
  f.get(app);
  // The refund came after the window ended: the new window is untouched.
  auto direct = f.store->consume_now("slow:ip:203.0.113.7", *o.policy, 1);
  EXPECT_TRUE(direct.allowed);
  EXPECT_EQ(direct.remaining, 0u);
}

TEST(rate_limit, custom_denial_hook_dry_run_and_near_limit) {
  fixture f;
  auto o = f.options("custom", rate_policy::fixed_window(rate::per_minute(5)));
  int seen = 0;
  o.on_limited = [&seen](const request&, const context&, const rate_decision& d) {
    EXPECT_FALSE(d.allowed);
    ++seen;
  };
  o.deny = [](const request& req, const context&, const rate_decision& d) {
    auto res = json_response(req, http::status::service_unavailable,
                             R"({"error":"slow down","wait_ms":)" +
                                 std::to_string(d.retry_after.count() / 1'000'000) + "}");
    return res;
  };
  auto lim = std::make_shared<rate_limit>(o);
  auto app = f.one(lim);
  for (int i = 0; i < 5; ++i) f.get(app);
  EXPECT_EQ(lim->counters()->value("near_limit"), 1u);  // crossed 80 % at the 4th
  auto d = f.get(app);
  EXPECT_EQ(d.result(), http::status::service_unavailable);
  EXPECT_EQ(d.body(), R"({"error":"slow down","wait_ms":60000})");
  EXPECT_EQ(d.count(http::field::retry_after), 0u) << "Retry-After belongs to 429s";
  EXPECT_EQ(seen, 1);

  auto dry = f.options("shadow", rate_policy::fixed_window(rate::per_minute(1)));
  dry.dry_run = true;
  int dry_seen = 0;
  dry.on_limited = [&](const request&, const context&, const rate_decision&) { ++dry_seen; };
  auto dry_lim = std::make_shared<rate_limit>(dry);
  auto dry_app = f.one(dry_lim);
  for (int i = 0; i < 4; ++i) {
    auto r = f.get(dry_app);
    EXPECT_EQ(r.result(), http::status::ok);
    EXPECT_EQ(r.count(http::field::retry_after), 0u);
  }
  EXPECT_EQ(f.get(dry_app)["RateLimit"], "limit=1, remaining=0, reset=60");
  EXPECT_EQ(dry_lim->counters()->value("dry_run_limited"), 4u);
  EXPECT_EQ(dry_lim->counters()->value("limited"), 0u);
  EXPECT_EQ(dry_seen, 4);
}

TEST(rate_limit, cost_that_never_fits) {
  fixture f;
  auto o = f.options("big", rate_policy::gcra(rate::per_second(1)).with_burst(3));
  o.cost = [](const request&, const context&) -> std::uint64_t { return 4; };
  auto app = f.one(std::make_shared<rate_limit>(o));
  auto r = f.get(app);
  EXPECT_EQ(r.result(), http::status::too_many_requests);
  EXPECT_EQ(r.body(), R"({"error":"request exceeds the rate limit's capacity"})");
  EXPECT_EQ(r[http::field::retry_after], "3");
}

TEST(rate_limit, keys_by_user_tier_and_login_email) {
  fixture f;
  auto o = f.options("tiers", rate_policy::fixed_window(rate::per_minute(1)));
  o.tiers = {{"free", rate_policy::fixed_window(rate::per_minute(10))},
             {"pro", rate_policy::fixed_window(rate::per_minute(100))}};
  o.key = rate_key::owner_and_tier();
  auto lim = std::make_shared<rate_limit>(o);
  auto who = [](std::string subject, std::string tier) {
    return make_middleware([subject, tier](request& req, context& ctx,
                                           next_handler next) -> asio::awaitable<response> {
      ctx.who.via = identity::method::api_key;
      ctx.who.subject = subject;
      ctx.who.tier = tier;
      co_return co_await next(req, ctx);
    });
  };
  chain::builder b;
  b.time(f.clk);
  b.use("/x", who("alice", "pro"));
  b.use(lim);
  b.route(http::verb::get, "/x", answer());
  auto app = std::move(b).build();
  auto r = f.get(app);
  EXPECT_EQ(r["RateLimit"], "limit=100, remaining=99, reset=60");
  // Another address, the same owner: one budget.
  EXPECT_EQ(f.get(app, "198.51.100.1")["RateLimit"], "limit=100, remaining=98, reset=60");

  // IP + email: the same email from one IP shares a budget, whatever its case.
  auto lo = f.options("login", rate_policy::fixed_window(rate::per(5, 15min)));
  lo.key = rate_key::ip_and_body_field("email");
  auto login = f.one(std::make_shared<rate_limit>(lo));
  f.get(login, "203.0.113.7", R"({"email":"Bob@Example.com"})", http::verb::post);
  auto same = f.get(login, "203.0.113.7", R"({"email":" bob@example.com"})", http::verb::post);
  EXPECT_EQ(same["RateLimit"], "limit=5, remaining=3, reset=900");
  auto other = f.get(login, "203.0.113.7", R"({"email":"eve@example.com"})", http::verb::post);
  EXPECT_EQ(other["RateLimit"], "limit=5, remaining=4, reset=900");
  auto junk = f.get(login, "203.0.113.7", "not json", http::verb::post);
  EXPECT_EQ(junk["RateLimit"], "limit=5, remaining=4, reset=900");
  // A body the validator will refuse names no email, though a lax parser
  // (nlohmann's stops at a NUL) would read eve's: it counts with the junk.
  auto nul = f.get(login, "203.0.113.7", std::string(R"({"email":"eve@example.com"})") + '\0',
                   http::verb::post);
  EXPECT_EQ(nul["RateLimit"], "limit=5, remaining=3, reset=900");

  // Per user, falling back to the IP when anonymous.
  context anon{*parse_address("2001:db8:1:2ff::9")};
  EXPECT_EQ(rate_key::user()(request{}, anon), "ip:2001:db8:1:200::/56");
  anon.who.via = identity::method::session;
  anon.who.subject = "u1";
  EXPECT_EQ(rate_key::user()(request{}, anon), "user:u1");
}

TEST(rate_limit, misuse_is_caught) {
  fixture f;
  auto p = rate_policy::fixed_window(rate::per_minute(5));
  auto a = std::make_shared<rate_limit>(f.options("api", p));
  // Two limiters, one store, one prefix: they would count each other.
  EXPECT_THROW(rate_limit(f.options("api", p)), config_error);

  // The same limiter twice on one request counts once and warns.
  chain::builder b;
  b.time(f.clk);
  b.use(a);
  b.route(http::verb::get, "/x", answer(), {.middleware = {a}});
  auto app = std::move(b).build();
  EXPECT_EQ(f.get(app)["RateLimit"], "limit=5, remaining=4, reset=60");
  EXPECT_EQ(a->counters()->value("misuse"), 1u);
  EXPECT_EQ(f.sink->count("rate_limit.counted_twice"), 1);

  // A forwarding header from an untrusted peer: warned once per interval.
  auto c = f.one(std::make_shared<rate_limit>(f.options("fwd", p)));
  request req{http::verb::get, "/x", 11};
  req.set("X-Forwarded-For", "1.2.3.4");
  for (int i = 0; i < 3; ++i) {
    context ctx{*parse_address("203.0.113.7"), false, f.clk};
    run_blocking(c, req, ctx);
  }
  EXPECT_EQ(f.sink->count("rate_limit.untrusted_forwarding"), 1);

  // A chain that trusts everyone.
  chain::builder t;
  t.forwarding({.trusted_proxies = {"0.0.0.0/0", "::/0"}, .allow_trust_everyone = true});
  auto trusting = std::move(t).build();
  a->audit(trusting);
  EXPECT_EQ(f.sink->count("rate_limit.trusts_everyone"), 1);

  // A window under a second warns at build (the unit was probably wrong).
  rate_limit tiny(f.options("tiny", rate_policy::fixed_window(rate::per(5, 10ms))));
  EXPECT_EQ(f.sink->count("rate_limit.short_window"), 1);
}

TEST(rate_limit, bad_configuration_fails_at_build) {
  fixture f;
  auto p = rate_policy::fixed_window(rate::per_minute(5));
  auto expect_error = [](rate_limit_options o, std::string_view needle) {
    try {
      rate_limit lim(std::move(o));
      ADD_FAILURE() << "accepted; expected " << needle;
    } catch (const config_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto o = f.options("", p);
  expect_error(o, "name");
  o = f.options("Bad Name", p);
  expect_error(o, "[a-z0-9_]+");
  o = f.options("x1", p);
  o.policy.reset();
  expect_error(o, "policy is missing");
  expect_error(f.options("x2", rate_policy::fixed_window(rate::per_minute(0))), "rate of 0");
  expect_error(f.options("x3", rate_policy::fixed_window(rate::per(5, 0s))), "1 ms");
  o = f.options("x4", p);
  o.key = nullptr;
  expect_error(o, "key is empty");
  o = f.options("x5", p);
  o.headers = static_cast<rate_limit_headers>(17);
  expect_error(o, "headers");
  o = f.options("x6", p);
  o.near_limit = 0;
  expect_error(o, "near_limit");
  o = f.options("x7", p);
  o.tiers = {{"pro", p}, {"pro", p}};
  expect_error(o, "listed twice");
  o = f.options("x8", p);
  o.tiers = {{"free", rate_policy::gcra(rate::per_minute(0))}};
  expect_error(o, "tier 'free'");
}

// A store that fails, to exercise the declared failure policies.
class broken_store final : public rate_limit_store {
 public:
  asio::awaitable<rate_decision> consume(std::string_view, const rate_policy&,
                                         std::uint64_t) override {
    throw std::system_error(make_error_code(errc::store_unavailable), "redis down");
    co_return rate_decision{};
  }
  asio::awaitable<void> refund(std::string_view, const rate_policy&, std::uint64_t,
                               const rate_decision&) override {
    co_return;
  }
  asio::awaitable<void> reset(std::string_view) override { co_return; }
  asio::awaitable<void> reset_all() override { co_return; }
};

TEST(rate_limit, store_failures_follow_the_declared_policy) {
  fixture f;
  auto open = f.options("open", rate_policy::fixed_window(rate::per_minute(1)));
  open.store = std::make_shared<broken_store>();
  open.on_store_error = store_failure::fail_open;
  auto open_lim = std::make_shared<rate_limit>(open);
  auto app = f.one(open_lim);
  for (int i = 0; i < 3; ++i) {
    auto r = f.get(app);
    EXPECT_EQ(r.result(), http::status::ok);
    EXPECT_EQ(r.count("RateLimit"), 0u);
  }
  EXPECT_EQ(open_lim->counters()->value("store_errors"), 3u);
  EXPECT_EQ(open_lim->counters()->value("failed_open"), 3u);
  EXPECT_EQ(f.sink->count("rate_limit.store_error"), 1) << "throttled";

  auto closed = f.options("closed", rate_policy::fixed_window(rate::per_minute(1)));
  closed.store = std::make_shared<broken_store>();
  closed.on_store_error = store_failure::fail_closed;
  auto closed_lim = std::make_shared<rate_limit>(closed);
  auto r = f.get(f.one(closed_lim));
  EXPECT_EQ(r.result(), http::status::service_unavailable);
  EXPECT_EQ(r.body(), R"({"error":"rate limiter unavailable"})");
  EXPECT_EQ(closed_lim->counters()->value("failed_closed"), 1u);
}

// No silent default: a store that can fail needs a declared policy.
TEST(rate_limit, a_store_that_can_fail_needs_a_declared_policy) {
  fixture f;
  auto o = f.options("undeclared", rate_policy::fixed_window(rate::per_minute(1)));
  o.store = std::make_shared<broken_store>();
  ASSERT_TRUE(o.store->can_fail()) << "a store says it can fail unless it overrides can_fail()";
  try {
    rate_limit lim{o};
    FAIL() << "built without on_store_error on a store that can fail";
  } catch (const config_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("rate_limit 'undeclared'"), std::string::npos) << what;
    EXPECT_NE(what.find("on_store_error"), std::string::npos) << what;
    EXPECT_NE(what.find("fail_open"), std::string::npos) << what;
    EXPECT_NE(what.find("fail_closed"), std::string::npos) << what;
  }

  // Declared either way, it builds; the failed attempt left no prefix claimed.
  o.on_store_error = store_failure::fail_closed;
  EXPECT_NO_THROW(rate_limit{o});

  // The memory store never fails: no declaration needed, by default or given.
  EXPECT_FALSE(f.store->can_fail());
  EXPECT_NO_THROW(rate_limit{f.options("memory", rate_policy::fixed_window(rate::per_minute(1)))});
  rate_limit_options defaults;
  defaults.name = "own_store";
  defaults.policy = rate_policy::gcra(rate::per_second(1));
  EXPECT_NO_THROW(rate_limit{defaults});

  // The reference server's limits refuse an undeclared failing store too.
  EXPECT_THROW(secure_api::make_rate_limits(std::make_shared<broken_store>()), config_error);
  EXPECT_NO_THROW(secure_api::make_rate_limits(std::make_shared<broken_store>(), {},
                                               store_failure::fail_open));
}

TEST(rate_limit, retry_after_rounding) {
  EXPECT_EQ(retry_after_seconds(0ns), 1);
  EXPECT_EQ(retry_after_seconds(1ns), 1);
  EXPECT_EQ(retry_after_seconds(1s), 1);
  EXPECT_EQ(retry_after_seconds(1s + 1ns), 2);
  EXPECT_EQ(retry_after_seconds(895s), 895);
}

// The reference server's limits through a chain, at the window edges: the
// last allowed request, the first denied, the first after reset.
TEST(rate_limit, reference_server_limits_at_the_window_edges) {
  fixture f;
  auto limits = secure_api::make_rate_limits(f.store, {}, {}, logger(f.sink, log_level::debug));
  auto as = [](std::string subject, std::string tier) {
    return make_middleware([subject, tier](request& req, context& ctx,
                                           next_handler next) -> asio::awaitable<response> {
      if (req.count("X-Test-Key")) {
        ctx.who.via = identity::method::api_key;
        ctx.who.subject = subject;
        ctx.who.tier = tier;
      }
      co_return co_await next(req, ctx);
    });
  };
  auto login_handler = [](request& req, context&) -> asio::awaitable<response> {
    const bool ok = req.body().find("\"right\"") != std::string::npos;
    response res{ok ? http::status::ok : http::status::unauthorized, req.version()};
    co_return res;
  };
  chain::builder b;
  b.time(f.clk);
  b.use("/api", as("alice", "free"));
  b.use("/api", limits.api);
  b.use("/api", limits.tiers);
  b.route(http::verb::get, "/health", answer());
  b.route(http::verb::get, "/api/items", answer());
  b.route(http::verb::post, "/auth/login", login_handler, {.middleware = {limits.login}});
  b.route(http::verb::post, "/auth/forgot-password", answer(), {.middleware = {limits.forgot}});
  auto app = std::move(b).build();

  auto send = [&](http::verb v, std::string target, std::string body = {},
                  std::string peer = "203.0.113.7", bool key = false) {
    request req{v, target, 11};
    req.set(http::field::host, "a");
    if (key) req.set("X-Test-Key", "1");
    req.body() = std::move(body);
    req.prepare_payload();
    context ctx{*parse_address(peer), false, f.clk};
    return run_blocking(app, req, ctx);
  };

  // /api: 100 per 15 minutes per IP.
  for (int i = 0; i < 99; ++i) send(http::verb::get, "/api/items");
  f.clk.advance(60s);
  auto last = send(http::verb::get, "/api/items");
  EXPECT_EQ(last.result(), http::status::ok);
  EXPECT_EQ(last["RateLimit"], "limit=100, remaining=0, reset=840");
  auto first_denied = send(http::verb::get, "/api/items");
  EXPECT_EQ(first_denied.result(), http::status::too_many_requests);
  EXPECT_EQ(first_denied[http::field::retry_after], "840");
  EXPECT_EQ(first_denied["RateLimit"], "limit=100, remaining=0, reset=840");
  EXPECT_EQ(send(http::verb::get, "/health").result(), http::status::ok);  // never limited
  EXPECT_EQ(send(http::verb::get, "/api/items", {}, "198.51.100.1").result(), http::status::ok);
  f.clk.advance(840s);
  auto after = send(http::verb::get, "/api/items");
  EXPECT_EQ(after.result(), http::status::ok);
  EXPECT_EQ(after["RateLimit"], "limit=100, remaining=99, reset=900");

  // Tiers: a free key may send 10 per minute; the headers show both
  // policies and the tighter state.
  const std::string k_peer = "192.0.2.50";
  for (int i = 0; i < 9; ++i) send(http::verb::get, "/api/items", {}, k_peer, true);
  auto tier_last = send(http::verb::get, "/api/items", {}, k_peer, true);
  EXPECT_EQ(tier_last.result(), http::status::ok);
  EXPECT_EQ(tier_last["RateLimit-Policy"], "100;w=900, 10;w=60");
  EXPECT_EQ(tier_last["RateLimit"], "limit=10, remaining=0, reset=60");
  auto tier_denied = send(http::verb::get, "/api/items", {}, k_peer, true);
  EXPECT_EQ(tier_denied.result(), http::status::too_many_requests);
  EXPECT_EQ(tier_denied[http::field::retry_after], "6");  // one unit every 6 s
  f.clk.advance(6s);
  EXPECT_EQ(send(http::verb::get, "/api/items", {}, k_peer, true).result(), http::status::ok);

  // Login: 5 failures per 15 minutes per IP + email; successes are refunded.
  const std::string bad = R"({"email":"bob@example.com","password":"wrong"})";
  const std::string good = R"({"email":"bob@example.com","password":"right"})";
  for (int i = 0; i < 3; ++i) send(http::verb::post, "/auth/login", good);
  for (int i = 0; i < 4; ++i) send(http::verb::post, "/auth/login", bad);
  f.clk.advance(100s);
  auto fifth = send(http::verb::post, "/auth/login", bad);
  EXPECT_EQ(fifth.result(), http::status::unauthorized);
  EXPECT_EQ(fifth["RateLimit"], "limit=5, remaining=0, reset=900");
  auto sixth = send(http::verb::post, "/auth/login", good);
  EXPECT_EQ(sixth.result(), http::status::too_many_requests);
  EXPECT_EQ(sixth[http::field::retry_after], "800");  // the oldest failure leaves first
  EXPECT_EQ(
      send(http::verb::post, "/auth/login", R"({"email":"carol@example.com","password":"right"})")
          .result(),
      http::status::ok);
  f.clk.advance(800s);
  EXPECT_EQ(send(http::verb::post, "/auth/login", good).result(), http::status::ok);

  // Forgot password: 3 per hour per IP.
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(send(http::verb::post, "/auth/forgot-password", "{}").result(), http::status::ok);
  f.clk.advance(3599s);
  auto forgot_denied = send(http::verb::post, "/auth/forgot-password", "{}");
  EXPECT_EQ(forgot_denied.result(), http::status::too_many_requests);
  EXPECT_EQ(forgot_denied[http::field::retry_after], "1");
  f.clk.advance(1s);
  EXPECT_EQ(send(http::verb::post, "/auth/forgot-password", "{}").result(), http::status::ok);
}

}  // namespace
}  // namespace portcullis
