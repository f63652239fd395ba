#include "app.hpp"

#include "rate_limits.hpp"

#include <portcullis/api_key_auth.hpp>
#include <portcullis/api_key_routes.hpp>
#include <portcullis/cors.hpp>
#include <portcullis/error_handler.hpp>
#include <portcullis/html_sanitizer.hpp>
#include <portcullis/ip_network.hpp>
#include <portcullis/memory_rate_limit_store.hpp>
#include <portcullis/security_headers.hpp>
#include <portcullis/timeout.hpp>
#include <portcullis/validate.hpp>
#ifdef SECURE_API_WITH_REDIS
#include <portcullis/redis/rate_limit_store.hpp>
#endif
#ifdef SECURE_API_WITH_POSTGRES
#include <portcullis/postgres/api_key_store.hpp>
#endif

#include <openssl/sha.h>

#include <charconv>

namespace secure_api {

namespace asio = portcullis::asio;
namespace http = portcullis::http;
using portcullis::context;
using portcullis::request;
using portcullis::response;
using json = nlohmann::json;

void metrics_registry::add(const portcullis::counter_set* set) {
  std::lock_guard lock(mutex_);
  if (set != nullptr) sets_.push_back(set);
}

void metrics_registry::add(const std::vector<const portcullis::counter_set*>& sets) {
  for (auto* s : sets) add(s);
}

std::string metrics_registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  portcullis::write_prometheus(out, sets_);
  return out;
}

namespace {

std::shared_ptr<portcullis::rate_limit_store> make_rate_store(const config& c,
                                                              const portcullis::clock& clk,
                                                              const portcullis::logger& log) {
  if (c.rate_limit_store == "redis") {
#ifdef SECURE_API_WITH_REDIS
    portcullis::redis_store_options o;
    o.server = portcullis::redis_options::parse_url(c.redis_url);
    (void)log;
    return std::make_shared<portcullis::redis_rate_limit_store>(std::move(o));
#else
    (void)log;
    throw std::runtime_error(
        "stores.rate_limit is \"redis\" but this build has no Redis store "
        "(configure with -DPORTCULLIS_WITH_REDIS=ON)");
#endif
  }
  return std::make_shared<portcullis::memory_rate_limit_store>(portcullis::memory_store_options{},
                                                               clk);
}

std::shared_ptr<portcullis::api_key_store> make_key_store(const config& c,
                                                          const portcullis::logger& log) {
  if (c.api_key_store == "postgres") {
#ifdef SECURE_API_WITH_POSTGRES
    portcullis::postgres_api_key_store_options o;
    o.url = c.postgres_url;
    o.log = log;
    return std::make_shared<portcullis::postgres_api_key_store>(std::move(o));
#else
    (void)log;
    throw std::runtime_error(
        "stores.api_keys is \"postgres\" but this build has no PostgreSQL "
        "store (configure with -DPORTCULLIS_WITH_POSTGRES=ON)");
#endif
  }
  return std::make_shared<portcullis::memory_api_key_store>();
}

}  // namespace

services::services(const config& c, const portcullis::clock& clk, portcullis::logger l)
    : settings(c),
      clock(clk),
      log(std::move(l)),
      users(clk),
      rate_store(make_rate_store(c, clk, log)),
      key_store(make_key_store(c, log)) {}

namespace {

response ok_json(const request& req, http::status status, const json& body) {
  return portcullis::json_response(req, status,
                                   body.dump(-1, ' ', false, json::error_handler_t::replace));
}

// The request's JSON body: the validated one when a schema ran, otherwise
// parsed here (an object, or a 400).
std::optional<json> body_of(const request& req, context& ctx, response& error) {
  if (ctx.body) return *ctx.body;
  auto parsed = json::parse(req.body(), nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    error = ctx.error(req, http::status::bad_request, "the body must be a JSON object");
    return std::nullopt;
  }
  return parsed;
}

std::string field(const json& body, const char* name) {
  auto it = body.find(name);
  return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json user_json(const user& u) {
  return {{"id", u.id},   {"email", u.email},     {"name", u.name},
          {"bio", u.bio}, {"website", u.website}, {"tier", u.tier}};
}

// The query parameter `name` as a whole number, or `fallback` when absent.
// Unparsable values give nothing.
std::optional<long> query_number(std::string_view query, std::string_view name, long fallback) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    auto v = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    long n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || end != v.data() + v.size()) return std::nullopt;
    return n;
  }
  return fallback;
}

std::string sha256_hex(std::string_view data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// Answers 403 unless the client address lies in one of `networks`.
std::shared_ptr<const portcullis::middleware> only_from(
    std::vector<portcullis::ip_network> networks) {
  return portcullis::make_middleware(
      [networks = std::move(networks)](request& req, context& ctx,
                                       portcullis::next_handler next) -> asio::awaitable<response> {
        for (const auto& n : networks)
          if (n.contains(ctx.client_address)) co_return co_await next(req, ctx);
        co_return ctx.error(req, http::status::forbidden, "forbidden");
      });
}

}  // namespace

portcullis::chain build_app(services& s) {
  const config& cfg = s.settings;
  portcullis::chain::builder b;
  b.forwarding({.trusted_proxies = cfg.trusted_proxies});
  b.body_limit(cfg.body_limit);
  b.log(s.log);
  b.time(s.clock);

  // CORS in front of everything, so that whatever answers below — a 500
  // from the error handler, a 401, a 413, a 429 — still carries the grant
  // for an allowed origin and the page can read it (docs/cors.md). Sessions
  // are bearer tokens, not cookies: no credentials mode.
  portcullis::cors_options cors;
  cors.production.origins = cfg.allowed_origins;  // one list for every environment
  cors.allowed_headers = {"Content-Type", "Authorization", "X-API-Key"};
  // The page may read the rate-limit headers (every format the limiter writes).
  cors.exposed_headers = {
      "RateLimit",       "RateLimit-Policy",  "RateLimit-Limit",       "RateLimit-Remaining",
      "RateLimit-Reset", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
      "Retry-After"};
  cors.log = s.log;
  b.use(std::make_shared<portcullis::cors>(std::move(cors)));

  // The API preset of the security headers (docs/security_headers.md):
  // default-src 'none', frame-ancestors 'none', DENY, nosniff, no-store,
  // HSTS on HTTPS responses; Server and X-Powered-By removed.
  b.use(
      std::make_shared<portcullis::security_headers>(portcullis::security_headers_options::api()));

  // Next: nothing that goes wrong below reaches the client as text.
  b.use(std::make_shared<portcullis::error_handler>(
      portcullis::error_handler_options{.development = cfg.development, .log = s.log}));
  b.use(std::make_shared<portcullis::request_timeout>(
      portcullis::request_timeout_options{.timeout = cfg.request_timeout}));
  b.use(session_auth(s.users));

  // API keys (docs/api-keys.md): optional on every route, so that a request
  // with a key acts as the key's owner, and one without stays anonymous or
  // uses its session. A bad key is always a 401.
  auto keys = std::make_shared<portcullis::api_key_auth>(portcullis::api_key_auth_options{
      .store = s.key_store,
      .optional = true,
      .log = s.log,
      .time = &s.clock,
  });
  b.use(keys);

  // Rate limits (rate_limits.hpp): the whole API per client IP, API keys by
  // tier, and stricter limits on login and password reset.
  std::optional<portcullis::store_failure> on_store_error;
  if (cfg.rate_limit_on_error == "open") on_store_error = portcullis::store_failure::fail_open;
  if (cfg.rate_limit_on_error == "closed") on_store_error = portcullis::store_failure::fail_closed;
  auto limits = make_rate_limits(s.rate_store, cfg.rate_limits, on_store_error, s.log);
  b.use(limits.api);
  b.use(limits.tiers);

  services* sp = &s;
  auto signed_in = require_session();

  // Every body and query the API reads is validated first (docs/validation.md).
  using portcullis::schema;
  auto new_user = std::make_shared<portcullis::validate>(portcullis::validate_options{
      .name = "create_user",
      .body = schema::object({{"email", schema::string().email().max(254)},
                              {"password", schema::string().min(12).max(128)},
                              {"name", schema::string().max(100).optional()}}),
  });
  auto profile_patch = std::make_shared<portcullis::validate>(portcullis::validate_options{
      .name = "update_profile",
      .body = schema::object(
          {{"name", schema::string().max(100).optional()},
           {"bio", schema::string().max(500).optional()},
           {"website",
            schema::union_of({schema::string().url(), schema::literal("")}).optional()}}),
  });
  auto items_query = std::make_shared<portcullis::validate>(portcullis::validate_options{
      .name = "list_items",
      .query = schema::object({{"page", schema::integer().min(1).default_value(1)},
                               {"limit", schema::integer().min(1).max(100).default_value(20)}}),
  });
  auto credentials = std::make_shared<portcullis::validate>(portcullis::validate_options{
      .name = "credentials",
      .body = schema::object(
          {{"email", schema::string().max(254)}, {"password", schema::string().max(128)}}),
  });
  auto email_only = std::make_shared<portcullis::validate>(portcullis::validate_options{
      .name = "forgot_password",
      .body = schema::object({{"email", schema::string().email().max(254)}}),
  });

  // The same API at the root and under /v1.
  for (std::string v : {"", "/v1"}) {
    b.route(http::verb::get, v + "/health",
            [](request& req, context&) -> asio::awaitable<response> {
              co_return ok_json(req, http::status::ok, {{"status", "ok"}});
            });

    b.route(http::verb::post, v + "/users",
            [sp](request& req, context& ctx) -> asio::awaitable<response> {
              response error;
              auto body = body_of(req, ctx, error);
              if (!body) co_return error;
              auto email = field(*body, "email");
              auto password = field(*body, "password");
              if (email.find('@') == std::string::npos || password.size() < 12)
                co_return ctx.error(req, http::status::bad_request,
                                    "email and a password of at least 12 characters are required");
              auto u = co_await sp->users.create(email, password, field(*body, "name"));
              if (!u) co_return ctx.error(req, http::status::conflict, "that e-mail is taken");
              co_return ok_json(req, http::status::created, user_json(*u));
            },
            {.middleware = {new_user}});

    b.route(http::verb::post, v + "/auth/login",
            [sp](request& req, context& ctx) -> asio::awaitable<response> {
              response error;
              auto body = body_of(req, ctx, error);
              if (!body) co_return error;
              auto token =
                  co_await sp->users.login(field(*body, "email"), field(*body, "password"));
              if (!token)
                co_return ctx.error(req, http::status::unauthorized, "invalid e-mail or password");
              auto res = ok_json(req, http::status::ok,
                                 {{"token", *token},
                                  {"token_type", "Bearer"},
                                  {"expires_in", sp->users.session_ttl().count()}});
              res.set(http::field::cache_control, "no-store");
              co_return res;
            },
            {.middleware = {limits.login, credentials}});

    b.route(http::verb::post, v + "/auth/forgot-password",
            [](request& req, context& ctx) -> asio::awaitable<response> {
              response error;
              if (!body_of(req, ctx, error)) co_return error;
              // The same answer whether or not the account exists.
              co_return ok_json(req, http::status::accepted,
                                {{"status", "if the account exists, a reset link has been sent"}});
            },
            {.middleware = {limits.forgot, email_only}});

    b.route(http::verb::get, v + "/profile",
            [sp](request& req, context& ctx) -> asio::awaitable<response> {
              auto u = sp->users.find(ctx.who.subject);
              if (!u) co_return ctx.error(req, http::status::not_found, "not found");
              auto res = ok_json(req, http::status::ok, user_json(*u));
              res.set(http::field::cache_control, "no-store");
              co_return res;
            },
            {.middleware = {signed_in}});

    b.route(http::verb::patch, v + "/profile",
            [sp](request& req, context& ctx) -> asio::awaitable<response> {
              response error;
              auto body = body_of(req, ctx, error);
              if (!body) co_return error;
              auto u = sp->users.find(ctx.who.subject);
              if (!u) co_return ctx.error(req, http::status::not_found, "not found");
              if (body->contains("name")) u->name = field(*body, "name");
              if (body->contains("bio")) {
                // Rich text: only what the strict allowlist keeps is stored.
                static const portcullis::html_sanitizer bio{
                    portcullis::html_sanitizer_options::strict()};
                auto clean = bio.sanitize(field(*body, "bio"));
                if (!clean)
                  co_return ctx.error(req, http::status::bad_request,
                                      std::string("bio: ") + std::string(clean.refusal_message()));
                u->bio = std::move(clean.html);
              }
              if (body->contains("website")) u->website = field(*body, "website");
              sp->users.update(*u);
              auto res = ok_json(req, http::status::ok, user_json(*u));
              res.set(http::field::cache_control, "no-store");
              co_return res;
            },
            {.middleware = {signed_in, profile_patch}});

    b.route(
        http::verb::get, v + "/items",
        [](request& req, context& ctx) -> asio::awaitable<response> {
          long page = 1, limit = 20;
          if (ctx.query) {
            page = ctx.query->value("page", 1L);
            limit = ctx.query->value("limit", 20L);
          } else {
            auto p = query_number(ctx.raw_query, "page", 1);
            auto l = query_number(ctx.raw_query, "limit", 20);
            if (!p || !l || *p < 1 || *l < 1 || *l > 100)
              co_return ctx.error(req, http::status::bad_request,
                                  "page must be 1 or more and limit from 1 to 100");
            page = *p;
            limit = *l;
          }
          // A fixed catalogue of 250 items.
          constexpr long total = 250;
          json items = json::array();
          for (long i = (page - 1) * limit + 1; i <= std::min(total, page * limit); ++i)
            items.push_back({{"id", i}, {"name", "Item " + std::to_string(i)}});
          co_return ok_json(
              req, http::status::ok,
              {{"page", page}, {"limit", limit}, {"total", total}, {"items", std::move(items)}});
        },
        {.middleware = {items_query}});

    b.route(http::verb::post, v + "/upload",
            [](request& req, context&) -> asio::awaitable<response> {
              co_return ok_json(req, http::status::created,
                                {{"bytes", req.body().size()}, {"sha256", sha256_hex(req.body())}});
            },
            {.body_limit = cfg.upload_limit});

    b.route(http::verb::get, v + "/metrics",
            [sp](request& req, context&) -> asio::awaitable<response> {
              response res{http::status::ok, req.version()};
              res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
              res.keep_alive(req.keep_alive());
              res.body() = sp->metrics.render();
              res.prepare_payload();
              co_return res;
            },
            {.middleware = {only_from({portcullis::ip_network::parse("127.0.0.0/8"),
                                       portcullis::ip_network::parse("::1")})}});
  }

  // POST/GET /api-keys and DELETE /api-keys/{id}, for signed-in users.
  for (std::string v : {"", "/v1"})
    portcullis::add_api_key_routes(b, {.store = s.key_store,
                                       .auth = keys,
                                       .path = v + "/api-keys",
                                       .grantable_scopes = {"items:read", "profile:read"},
                                       .tier_of = [sp](const context& ctx) {
                                         auto u = sp->users.find(ctx.who.subject);
                                         return u ? u->tier : std::string("free");
                                       }});

  auto app = std::move(b).build();
  limits.api->audit(app);
  s.metrics.add(app.counters());
  return app;
}

}  // namespace secure_api
