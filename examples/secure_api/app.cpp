#include "app.hpp"

#include "rate_limits.hpp"

#include <portcullis/api_key_auth.hpp>
#include <portcullis/api_key_routes.hpp>
#include <portcullis/content_type.hpp>
#include <portcullis/cors.hpp>
#include <portcullis/error_handler.hpp>
#include <portcullis/html_sanitizer.hpp>
#include <portcullis/https_redirect.hpp>
#include <portcullis/ip_network.hpp>
#include <portcullis/json_body.hpp>
#include <portcullis/memory_rate_limit_store.hpp>
#include <portcullis/multipart.hpp>
#include <portcullis/sanitize.hpp>
#include <portcullis/security_headers.hpp>
#include <portcullis/timeout.hpp>
#include <portcullis/validate.hpp>
#include <portcullis/versioning.hpp>
#ifdef SECURE_API_WITH_REDIS
#include <portcullis/redis/rate_limit_store.hpp>
#endif
#ifdef SECURE_API_WITH_POSTGRES
#include <portcullis/postgres/api_key_store.hpp>
#endif

#include <openssl/sha.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>
#include <set>

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

void metrics_registry::add(const portcullis::memory_rate_limit_store* store) {
  std::lock_guard lock(mutex_);
  memory_store_ = store;
}

std::string metrics_registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  portcullis::write_prometheus(out, sets_);
  if (memory_store_ != nullptr) {
    // Read from the store itself: its size is a level, not a count of events.
    const auto sample = [&out](const char* name, const char* type, std::uint64_t value) {
      out += std::string("# TYPE ") + name + " " + type + "\n" + name + "{name=\"rate_limit\"} " +
             std::to_string(value) + "\n";
    };
    sample("portcullis_memory_store_keys", "gauge", memory_store_->size());
    sample("portcullis_memory_store_capacity", "gauge", memory_store_->capacity());
    sample("portcullis_memory_store_evictions_total", "counter", memory_store_->evictions());
    sample("portcullis_memory_store_expired_removed_total", "counter",
           memory_store_->expired_removed());
  }
  return out;
}

namespace {

std::shared_ptr<portcullis::rate_limit_store> make_rate_store(
    const config& c, const portcullis::clock& clk, const portcullis::logger& log,
    const boost::asio::any_io_executor& io) {
  if (c.rate_limit_store == "redis") {
#ifdef SECURE_API_WITH_REDIS
    portcullis::redis_store_options o;
    o.server = portcullis::redis_options::parse_url(c.redis_url);
    if (!c.redis_prefix.empty()) o.prefix = c.redis_prefix;
    o.server.log = log;  // lost and regained connections, throttled
    o.server.executor = io;
    return std::make_shared<portcullis::redis_rate_limit_store>(std::move(o));
#else
    (void)log;
    (void)io;
    throw std::runtime_error(
        "stores.rate_limit is \"redis\" but this build has no Redis store "
        "(configure with -DPORTCULLIS_WITH_REDIS=ON)");
#endif
  }
  return std::make_shared<portcullis::memory_rate_limit_store>(
      portcullis::memory_store_options{.max_keys = c.memory_max_keys}, clk);
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

services::services(const config& c, const portcullis::clock& clk, portcullis::logger l,
                   const boost::asio::any_io_executor& io)
    : settings(c),
      clock(clk),
      log(std::move(l)),
      users(clk),
      rate_store(make_rate_store(c, clk, log, io)),
      key_store(make_key_store(c, log)) {
  if (auto memory = std::dynamic_pointer_cast<portcullis::memory_rate_limit_store>(rate_store))
    metrics.add(memory.get());
#ifdef SECURE_API_WITH_REDIS
  // The Redis store's own counters (calls = round trips, errors, timeouts,
  // connects and disconnects of its pool) beside the limiters'.
  if (auto redis = std::dynamic_pointer_cast<portcullis::redis_rate_limit_store>(rate_store))
    metrics.add(&redis->counters());
#endif
}

namespace {

response ok_json(const request& req, http::status status, const json& body) {
  return portcullis::json_response(req, status,
                                   body.dump(-1, ' ', false, json::error_handler_t::replace));
}

// The request's JSON body: the validated one when a schema ran, otherwise
// parsed here (an object, or a 400).
std::optional<json> body_of(const request& req, context& ctx, response& error) {
  if (ctx.body) return *ctx.body;
  auto parsed = portcullis::parse_json(req.body());
  if (!parsed.ok() || !parsed.value.is_object()) {
    error = ctx.error(req, http::status::bad_request, "the body must be a JSON object");
    return std::nullopt;
  }
  return std::move(parsed.value);
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

// GET /slow?ms=N[&deaf=1] (config "slow_route", development only): answers
// after N ms, and behaves as the worst handlers do when the request timeout
// cancels it. By default it swallows the cancellation and answers anyway, at
// once; with deaf=1 it ignores cancellation altogether and answers when its
// time is up. Either answer comes too late and must never reach the client.
asio::awaitable<response> slow_handler(request& req, context& ctx) {
  auto ms = query_number(ctx.raw_query, "ms", 0);
  auto deaf = query_number(ctx.raw_query, "deaf", 0);
  if (!ms || *ms < 0 || *ms > 60000 || !deaf || (*deaf != 0 && *deaf != 1))
    co_return ctx.error(req, http::status::bad_request,
                        "ms must be from 0 to 60000, and deaf 0 or 1");
  asio::steady_timer timer{co_await asio::this_coro::executor, std::chrono::milliseconds(*ms)};
  if (*deaf != 0) {
    // No cancellation slot: the timer runs its course whatever happens.
    co_await timer.async_wait(
        asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
  } else {
    try {
      co_await timer.async_wait(asio::use_awaitable);
    } catch (const boost::system::system_error&) {
      // Cancelled by the request timeout: answer all the same.
    }
  }
  co_return ok_json(req, http::status::ok, {{"slept_ms", *ms}});
}

// POST /auth/forgot-password (a plain function, as list_items below).
response forgot_password(const request& req, context& ctx) {
  response error;
  if (!body_of(req, ctx, error)) return error;
  // The same answer whether or not the account exists.
  return ok_json(req, http::status::accepted,
                 {{"status", "if the account exists, a reset link has been sent"}});
}

// PATCH /profile (a plain function, as list_items below).
response update_profile(services& s, const request& req, context& ctx) {
  response error;
  auto body = body_of(req, ctx, error);
  if (!body) return error;
  auto u = s.users.find(ctx.who.subject);
  if (!u) return ctx.error(req, http::status::not_found, "not found");
  if (body->contains("name")) u->name = field(*body, "name");
  if (body->contains("bio")) {
    // Rich text: only what the strict allowlist keeps is stored.
    static const portcullis::html_sanitizer bio{portcullis::html_sanitizer_options::strict()};
    auto clean = bio.sanitize(field(*body, "bio"));
    if (!clean)
      return ctx.error(req, http::status::bad_request,
                       std::string("bio: ") + std::string(clean.refusal_message()));
    u->bio = std::move(clean.html);
  }
  if (body->contains("website")) u->website = field(*body, "website");
  s.users.update(*u);
  auto res = ok_json(req, http::status::ok, user_json(*u));
  res.set(http::field::cache_control, "no-store");
  return res;
}

// GET /items: a page of the catalogue. A plain function: the route's
// coroutine frame stays small (every local of a coroutine lives in its
// frame, and this one's json values would push it past Asio's recycling).
response list_items(const request& req, const context& ctx) {
  long page = 1, limit = 20;
  if (ctx.query) {
    page = ctx.query->value("page", 1L);
    limit = ctx.query->value("limit", 20L);
  } else {
    auto p = query_number(ctx.raw_query, "page", 1);
    auto l = query_number(ctx.raw_query, "limit", 20);
    if (!p || !l || *p < 1 || *l < 1 || *l > 100)
      return ctx.error(req, http::status::bad_request,
                       "page must be 1 or more and limit from 1 to 100");
    page = *p;
    limit = *l;
  }
  // A fixed catalogue of 250 items; every third one is inactive.
  // Filters (validated): active=true|false, ids[]=… (at most 100).
  constexpr long catalogue = 250;
  std::optional<bool> active;
  std::set<long> ids;
  if (ctx.query && ctx.query->contains("active")) active = (*ctx.query)["active"].get<bool>();
  if (ctx.query && ctx.query->contains("ids"))
    for (const auto& id : (*ctx.query)["ids"]) ids.insert(id.get<long>());
  std::vector<long> matching;
  for (long i = 1; i <= catalogue; ++i) {
    if (active && (i % 3 != 0) != *active) continue;
    if (!ids.empty() && !ids.count(i)) continue;
    matching.push_back(i);
  }
  const long total = static_cast<long>(matching.size());
  json items = json::array();
  for (long n = (page - 1) * limit; n < std::min(total, page * limit); ++n)
    items.push_back({{"id", matching[n]},
                     {"name", "Item " + std::to_string(matching[n])},
                     {"active", matching[n] % 3 != 0}});
  json out = {{"page", page}, {"limit", limit}, {"total", total}, {"items", std::move(items)}};
  if (active) out["active"] = *active;
  if (!ids.empty()) out["ids"] = ids;
  return ok_json(req, http::status::ok, out);
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
  // are bearer tokens, not cookies: credentials only when configured.
  portcullis::cors_options cors;
  cors.production.origins = cfg.allowed_origins;  // one list for every environment
  cors.credentials = cfg.cors_credentials;
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

  // HTTPS enforcement (docs/https_redirect.md), when configured: plain HTTP,
  // directly or as a trusted proxy reports it, is redirected (GET/HEAD, 308
  // to a host from the allowlist) or refused with 403. HSTS above goes on
  // every HTTPS answer.
  if (!cfg.https.enforce.empty())
    b.use(std::make_shared<portcullis::https_redirect>(portcullis::https_redirect_options{
        .policy = cfg.https.enforce == "refuse" ? portcullis::https_policy::refuse
                                                : portcullis::https_policy::redirect,
        .allowed_hosts = cfg.https.allowed_hosts,
        .https_port = cfg.https.port,
        .exempt_paths = cfg.https.exempt_paths,
        .log = s.log,
    }));

  // Next: nothing that goes wrong below reaches the client as text.
  b.use(std::make_shared<portcullis::error_handler>(
      portcullis::error_handler_options{.development = cfg.development, .log = s.log}));

  // API versions (docs/versioning.md). /v1/... is the current API; an
  // unknown version in the path is a 404 naming v1. The same routes without
  // a prefix are the unversioned API; once the configuration deprecates it,
  // it is "v0": its answers carry Deprecation (and Sunset) and
  // Link: </v1/>; rel="successor-version", and a client can ask for v1 on
  // them with `Accept-Version: v1` (which also makes them Vary on it).
  b.use(std::make_shared<portcullis::versioning>(portcullis::versioning_options{
      .versions = {{.name = "v1"}},
      .source = portcullis::version_source::path,
      .name = "path",
  }));
  if (cfg.versioning.unversioned_deprecated) {
    std::optional<std::chrono::sys_seconds> sunset;
    if (cfg.versioning.unversioned_sunset) sunset = *cfg.versioning.unversioned_sunset;
    auto unversioned = std::make_shared<portcullis::versioning>(portcullis::versioning_options{
        .versions = {{.name = "v0",
                      .deprecated = *cfg.versioning.unversioned_deprecated,
                      .sunset = sunset,
                      .successor = "/v1/"},
                     {.name = "v1"}},
        .source = portcullis::version_source::header,
        .default_version = "v0",
        .name = "unversioned",
    });
    s.metrics.add(unversioned->counters());
    // Only where the path named no version.
    b.use(portcullis::make_middleware(
        [unversioned](request& req, context& ctx,
                      portcullis::next_handler next) -> asio::awaitable<response> {
          if (!ctx.api_version.empty()) co_return co_await next(req, ctx);
          co_return co_await unversioned->handle(req, ctx, std::move(next));
        }));
  }

  b.use(std::make_shared<portcullis::request_timeout>(
      portcullis::request_timeout_options{.timeout = cfg.request_timeout}));
  b.use(session_auth(s.users));

  // API keys (docs/api-keys.md): optional on every route, so that a request
  // with a key acts as the key's owner, and one without stays anonymous or
  // uses its session. A bad key is always a 401.
  // With a pepper, stored digests are HMAC-SHA-256 under it: a copy of the
  // key table alone cannot confirm a leaked key.
  auto keys = std::make_shared<portcullis::api_key_auth>(portcullis::api_key_auth_options{
      .store = s.key_store,
      .hasher = cfg.api_key_pepper.empty()
                    ? portcullis::api_key_hasher{}
                    : portcullis::api_key_hasher{{{.id = cfg.api_key_pepper_id,
                                                   .secret = cfg.api_key_pepper}}},
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
      .query =
          schema::object({{"page", schema::integer().min(1).default_value(1)},
                          {"limit", schema::integer().min(1).max(100).default_value(20)},
                          {"active", schema::boolean().optional()},
                          {"ids", schema::array(schema::integer().min(1)).max(100).optional()}}),
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

  // POST /upload: multipart/form-data only (415 otherwise), within the
  // configured counts and sizes, each file's type allowed and matching its
  // first bytes (docs/multipart.md).
  const portcullis::multipart_options upload_rules{
      .max_files = cfg.upload.max_files,
      .max_file_size = cfg.upload.max_file_size,
      .allowed_types = cfg.upload.allowed_types,
      .name = "upload",
  };
  auto multipart_only = std::make_shared<portcullis::content_type_allowlist>(
      portcullis::content_type_options{.allowed = {"multipart/form-data"}, .name = "upload"});
  auto upload_limits = std::make_shared<portcullis::multipart_limits>(upload_rules);

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
              co_return forgot_password(req, ctx);
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
              co_return update_profile(*sp, req, ctx);
            },
            {.middleware = {signed_in, profile_patch}});

    b.route(http::verb::get, v + "/items",
            [](request& req, context& ctx) -> asio::awaitable<response> {
              co_return list_items(req, ctx);
            },
            {.middleware = {items_query}});

    b.route(http::verb::post, v + "/upload",
            [upload_rules](request& req, context& ctx) -> asio::awaitable<response> {
              // Checked by multipart_limits already; parsed again for the parts.
              auto form = portcullis::parse_multipart(req[http::field::content_type], req.body(),
                                                      upload_rules);
              if (!form) co_return ctx.error(req, http::status::bad_request, form.message);
              json files = json::array();
              for (const auto& p : form.parts) {
                if (!p.filename) continue;
                files.push_back({{"field", p.name},
                                 {"filename", portcullis::sanitize_filename(*p.filename)},
                                 {"type", std::string(p.sniffed_type)},
                                 {"bytes", p.data.size()},
                                 {"sha256", sha256_hex(p.data)}});
              }
              co_return ok_json(req, http::status::created, {{"files", std::move(files)}});
            },
            {.body_limit = cfg.upload_limit, .middleware = {multipart_only, upload_limits}});

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

  // A test hook for the request timeout; config refuses it outside development.
  if (cfg.slow_route) b.route(http::verb::get, "/slow", slow_handler);

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
