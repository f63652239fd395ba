#include "portcullis/api_key_auth.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/detail/ready.hpp"
#include "portcullis/errc.hpp"
#include "portcullis/timeout.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <nlohmann/json.hpp>

#include <cstring>
#include <list>
#include <unordered_map>

namespace portcullis {

std::string_view to_string(api_key_status s) noexcept {
  switch (s) {
    case api_key_status::valid:
      return "valid";
    case api_key_status::malformed:
      return "malformed";
    case api_key_status::unknown:
      return "unknown";
    case api_key_status::revoked:
      return "revoked";
    case api_key_status::expired:
      return "expired";
    case api_key_status::used_up:
      return "used_up";
    case api_key_status::unavailable:
      return "unavailable";
  }
  return "unknown";
}

namespace {

enum counter : std::size_t {
  c_allowed,
  c_missing,
  c_invalid,
  c_forbidden,
  c_unavailable,
  c_cache_hits,
  c_cache_misses,
  c_store_errors,
  c_revocations,
  c_fills_dropped,
  c_touch_batches,
  c_touch_errors,
};

struct digest_hash {
  std::size_t operator()(const api_key_digest& d) const noexcept {
    std::size_t h;
    std::memcpy(&h, d.data(), sizeof h);
    return h;
  }
};

bool is_scope(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == ':' || c == '.' ||
          c == '-'))
      return false;
  return true;
}

using detail::iequals;
using detail::trim_ows;

// The value of `name` in a raw query string, undecoded: keys contain only
// [A-Za-z0-9_], so a percent-encoded one is not a key anyway.
std::optional<std::string_view> query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

}  // namespace

namespace detail {

// Everything the middleware shares with its revocation listener and its
// background flushes, which may outlive a request.
struct api_key_cache : std::enable_shared_from_this<api_key_cache> {
  struct cached_key {
    std::shared_ptr<const api_key_identity> who;
    std::optional<wall_time> expires;
    std::optional<wall_time> revoked;
    bool limited = false;  // has max_uses: every use goes to the store
  };
  struct entry {
    std::shared_ptr<const cached_key> key;  // null: no such key
    clock::time_point fresh_until;
    std::list<api_key_digest>::iterator pos;
    bool used_up = false;
  };
  struct pending_use {
    std::string id;
    wall_time last;
    std::uint64_t count = 0;
  };
  struct alignas(64) shard {
    std::mutex m;
    std::unordered_map<api_key_digest, entry, digest_hash> map;
    std::list<api_key_digest> order;  // oldest first
    std::unordered_map<api_key_digest, pending_use, digest_hash> uses;
  };
  static constexpr std::size_t shard_count = 16;

  // What a look into the cache found.
  struct hit {
    api_key_status status;
    std::shared_ptr<const cached_key> key;
  };

  explicit api_key_cache(const api_key_auth_options& o)
      : opt(o),
        clk(o.time ? *o.time : system_clock()),
        per_shard((o.cache_size + shard_count - 1) / shard_count),
        counters("api_key", o.name,
                 {"allowed", "missing", "invalid", "forbidden", "unavailable", "cache_hits",
                  "cache_misses", "store_errors", "revocations", "fills_dropped", "touch_batches",
                  "touch_errors"}) {
    next_flush.store((clk.now() + opt.touch_interval).time_since_epoch().count());
  }

  shard& shard_of(const api_key_digest& d) noexcept { return shards[d[8] % shard_count]; }

  // The status a cached record gives at `now`.
  hit judge(const entry& e) const {
    if (!e.key) return {api_key_status::unknown, nullptr};
    if (e.key->revoked) return {api_key_status::revoked, nullptr};
    if (e.key->expires && clk.wall_now() >= *e.key->expires)
      return {api_key_status::expired, nullptr};
    if (e.used_up) return {api_key_status::used_up, nullptr};
    return {api_key_status::valid, e.key};
  }

  // Counts a use of a key without a limit, for the next batch. Holds s.m.
  void note_use(shard& s, const api_key_digest& d, const cached_key& k) {
    auto& u = s.uses[d];
    if (u.count == 0) u.id = k.who->key_id;
    ++u.count;
    u.last = clk.wall_now();
  }

  std::optional<hit> lookup(const api_key_digest& d) {
    if (per_shard == 0) return std::nullopt;
    if (opt.when_store_down == store_down_policy::refuse &&
        store_down.load(std::memory_order_relaxed))
      return std::nullopt;
    auto& s = shard_of(d);
    std::lock_guard lock(s.m);
    auto it = s.map.find(d);
    if (it == s.map.end() || it->second.fresh_until <= clk.now()) return std::nullopt;
    auto h = judge(it->second);
    if (h.status == api_key_status::valid && !h.key->limited) note_use(s, d, *h.key);
    return h;
  }

  // Stores what the store said about `d`, unless a revocation was heard
  // since `epoch_before` (the record may predate it).
  void fill(const api_key_digest& d, std::shared_ptr<const cached_key> key,
            std::uint64_t epoch_before) {
    if (per_shard == 0) return;
    auto& s = shard_of(d);
    std::lock_guard lock(s.m);
    if (epoch.load(std::memory_order_acquire) != epoch_before) {
      counters.add(c_fills_dropped);
      return;
    }
    const auto ttl = key ? opt.cache_ttl : opt.miss_ttl;
    auto it = s.map.find(d);
    if (it != s.map.end()) {
      s.order.erase(it->second.pos);
      s.map.erase(it);
    }
    while (s.map.size() >= per_shard && !s.order.empty()) {
      s.map.erase(s.order.front());
      s.order.pop_front();
    }
    s.order.push_back(d);
    s.map.emplace(d, entry{std::move(key), clk.now() + ttl, std::prev(s.order.end()), false});
  }

  void mark_used_up(const api_key_digest& d) {
    auto& s = shard_of(d);
    std::lock_guard lock(s.m);
    if (auto it = s.map.find(d); it != s.map.end()) it->second.used_up = true;
  }

  void note_use(const api_key_digest& d, const cached_key& k) {
    auto& s = shard_of(d);
    std::lock_guard lock(s.m);
    note_use(s, d, k);
  }

  // The store's listener: drops a revoked key, or everything.
  void invalidate(const api_key_digest* d) {
    counters.add(c_revocations);
    if (d == nullptr) {
      epoch.fetch_add(1, std::memory_order_acq_rel);
      clear();
      return;
    }
    // A key verified with an older pepper is cached under its current
    // digest; the alias finds it.
    api_key_digest key = *d;
    {
      std::lock_guard lock(alias_mutex);
      if (auto it = aliases.find(*d); it != aliases.end()) key = it->second;
    }
    auto& s = shard_of(key);
    std::lock_guard lock(s.m);
    epoch.fetch_add(1, std::memory_order_acq_rel);
    if (auto it = s.map.find(key); it != s.map.end()) {
      s.order.erase(it->second.pos);
      s.map.erase(it);
    }
  }

  void clear() {
    for (auto& s : shards) {
      std::lock_guard lock(s.m);
      s.map.clear();
      s.order.clear();
    }
  }

  void add_alias(const api_key_digest& stored, const api_key_digest& current) {
    std::lock_guard lock(alias_mutex);
    if (aliases.size() < 100'000) aliases.emplace(stored, current);
  }

  // True when this caller should start the periodic flush now.
  bool flush_due() noexcept {
    auto now = clk.now().time_since_epoch().count();
    auto due = next_flush.load(std::memory_order_relaxed);
    if (now < due) return false;
    auto next = now + std::chrono::duration_cast<clock::duration>(opt.touch_interval).count();
    return next_flush.compare_exchange_strong(due, next, std::memory_order_relaxed);
  }

  void store_failed(std::string_view what, std::string_view detail) {
    counters.add(c_store_errors);
    store_down.store(true, std::memory_order_relaxed);
    std::uint64_t suppressed = 0;
    if (opt.log.enabled(log_level::warning) && store_warning.allow(clk, suppressed))
      opt.log.log(
          log_level::warning, "api_key.store_error",
          {{"name", opt.name}, {"operation", what}, {"error", detail}, {"suppressed", suppressed}});
  }

  // Writes the gathered uses in one store call. One flush at a time; on
  // failure the uses are put back for the next one.
  asio::awaitable<void> flush() {
    if (flushing.exchange(true)) co_return;
    std::vector<api_key_use> batch;
    std::vector<api_key_digest> digests;
    for (auto& s : shards) {
      std::lock_guard lock(s.m);
      for (auto& [d, u] : s.uses) {
        batch.push_back({std::move(u.id), u.last, u.count});
        digests.push_back(d);
      }
      s.uses.clear();
    }
    if (batch.empty()) {
      flushing = false;
      co_return;
    }

    std::string error;
    try {
      co_await with_deadline(opt.store->touch(batch), opt.store_timeout,
                             make_error_code(errc::store_timeout));
      counters.add(c_touch_batches);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!error.empty()) {
      counters.add(c_touch_errors);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        auto& s = shard_of(digests[i]);
        std::lock_guard lock(s.m);
        auto& p = s.uses[digests[i]];
        if (p.count == 0) p.id = batch[i].id;
        p.count += batch[i].count;
        p.last = std::max(p.last, batch[i].last_used);
      }
      store_failed("touch", error);
    }
    flushing = false;
  }

  api_key_auth_options opt;
  const clock& clk;
  std::size_t per_shard;
  mutable counter_set counters;
  std::array<shard, shard_count> shards;
  std::atomic<std::uint64_t> epoch{0};
  std::atomic<bool> store_down{false};
  std::atomic<clock::duration::rep> next_flush{0};
  std::atomic<bool> flushing{false};
  std::mutex alias_mutex;
  std::unordered_map<api_key_digest, api_key_digest, digest_hash> aliases;
  log_throttle store_warning{std::chrono::seconds(10)};
};

}  // namespace detail

namespace {

asio::awaitable<void> run_flush(std::shared_ptr<detail::api_key_cache> cache) {
  co_await cache->flush();
}

void check_range(std::string_view option, clock::duration v, clock::duration lo, clock::duration hi,
                 std::string_view range) {
  if (v < lo || v > hi)
    throw config_error("api_key_auth: " + std::string(option) + " is out of range; use " +
                       std::string(range));
}

}  // namespace

api_key_auth::api_key_auth(api_key_auth_options options) : options_(std::move(options)) {
  using namespace std::chrono;
  if (!options_.store)
    throw config_error(
        "api_key_auth: store is null; pass a memory_api_key_store, a "
        "postgres_api_key_store or your own");
  options_.format.check();
  for (const auto& s : options_.required_scopes)
    if (!is_scope(s))
      throw config_error("api_key_auth: required scope \"" + s +
                         "\" is invalid; use 1..64 characters of [a-z0-9_:.-]");
  check_range("cache_ttl", options_.cache_ttl, seconds(1), hours(1), "1 s .. 1 h");
  check_range("miss_ttl", options_.miss_ttl, milliseconds(1), options_.cache_ttl,
              "1 ms .. cache_ttl");
  check_range("touch_interval", options_.touch_interval, milliseconds(100), hours(1),
              "100 ms .. 1 h");
  check_range("store_timeout", options_.store_timeout, milliseconds(1), minutes(1),
              "1 ms .. 1 min");
  if (!options_.query_parameter.empty() && !is_scope(options_.query_parameter))
    throw config_error("api_key_auth: query_parameter \"" + options_.query_parameter +
                       "\" is not a plain name; use [a-z0-9_] such as \"api_key\"");
  if (options_.retry_after_seconds == 0 || options_.retry_after_seconds > 3600)
    throw config_error("api_key_auth: retry_after_seconds must be 1..3600");

  cache_ = std::make_shared<detail::api_key_cache>(options_);
  std::weak_ptr<detail::api_key_cache> weak = cache_;
  subscription_ = options_.store->subscribe([weak](const api_key_digest* d) {
    if (auto c = weak.lock()) c->invalidate(d);
  });
}

api_key_auth::~api_key_auth() {
  options_.store->unsubscribe(subscription_);
}

const counter_set* api_key_auth::counters() const noexcept {
  return &cache_->counters;
}

void api_key_auth::clear_cache() const {
  cache_->clear();
}

std::optional<api_key_verdict> api_key_auth::verify_cached(std::string_view key) const {
  auto& c = *cache_;
  if (!is_well_formed_api_key(key, options_.format))
    return api_key_verdict{api_key_status::malformed, nullptr};
  auto d = options_.hasher.digest(key);
  auto h = c.lookup(d);
  if (!h || (h->status == api_key_status::valid && h->key->limited)) return std::nullopt;
  c.counters.add(c_cache_hits);
  return api_key_verdict{h->status, h->key ? h->key->who : nullptr};
}

asio::awaitable<api_key_verdict> api_key_auth::verify(std::string_view key) const {
  auto cache = cache_;
  auto& c = *cache;
  if (!is_well_formed_api_key(key, options_.format))
    co_return api_key_verdict{api_key_status::malformed, nullptr};
  const auto d = options_.hasher.digest(key);

  // The cache first; then the store, under each scheme the hasher knows.
  std::shared_ptr<const detail::api_key_cache::cached_key> found;
  api_key_status status;
  if (auto h = c.lookup(d)) {
    c.counters.add(c_cache_hits);
    status = h->status;
    found = h->key;
  } else {
    c.counters.add(c_cache_misses);
    const auto epoch_before = c.epoch.load(std::memory_order_acquire);
    std::optional<api_key_record> record;
    std::size_t scheme = 0;
    std::string error;
    try {
      for (; scheme < options_.hasher.schemes() && !record; ++scheme) {
        const auto ds = scheme == 0 ? d : options_.hasher.digest(key, scheme);
        record = co_await with_deadline(options_.store->find_by_hash(ds), options_.store_timeout,
                                        make_error_code(errc::store_timeout));
        // A backend that matched loosely (a collation, a prefix) is not
        // believed: the digest must be the one asked for.
        if (record && !digests_equal(record->hash, ds)) record.reset();
        if (record && scheme != 0) c.add_alias(record->hash, d);
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!error.empty()) {
      c.store_failed("find_by_hash", error);
      if (options_.log.enabled(log_level::debug))
        options_.log.log(log_level::debug, "api_key.unavailable",
                         {{"name", options_.name}, {"key", fingerprint(key)}});
      co_return api_key_verdict{api_key_status::unavailable, nullptr};
    }
    c.store_down.store(false, std::memory_order_relaxed);

    std::shared_ptr<detail::api_key_cache::cached_key> k;
    if (record) {
      k = std::make_shared<detail::api_key_cache::cached_key>();
      k->who = std::make_shared<api_key_identity>(
          api_key_identity{record->id, record->owner, record->tier, record->scopes});
      k->expires = record->expires;
      k->revoked = record->revoked;
      k->limited = record->max_uses.has_value();
    }
    c.fill(d, k, epoch_before);
    detail::api_key_cache::entry e{k, {}, {}, false};
    if (record && record->max_uses && record->uses >= *record->max_uses) {
      e.used_up = true;
      c.mark_used_up(d);
    }
    auto judged = c.judge(e);
    status = judged.status;
    found = judged.key;
    if (status == api_key_status::valid && !found->limited) c.note_use(d, *found);
  }

  // A key with a use limit takes each use from the store, atomically.
  if (status == api_key_status::valid && found->limited) {
    std::optional<bool> left;
    std::string error;
    try {
      left =
          co_await with_deadline(options_.store->consume_use(found->who->key_id, c.clk.wall_now()),
                                 options_.store_timeout, make_error_code(errc::store_timeout));
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!left) {
      c.store_failed("consume_use", error);
      co_return api_key_verdict{api_key_status::unavailable, nullptr};
    }
    if (!*left) {
      c.mark_used_up(d);
      co_return api_key_verdict{api_key_status::used_up, nullptr};
    }
  }

  if (c.flush_due())
    asio::co_spawn(co_await asio::this_coro::executor, run_flush(cache), asio::detached);
  co_return api_key_verdict{status, status == api_key_status::valid ? found->who : nullptr};
}

asio::awaitable<bool> api_key_auth::revoke(std::string_view owner, std::string_view id) const {
  // The store publishes the revocation, which reaches this cache through
  // the listener before the store's call returns.
  co_return co_await with_deadline(options_.store->revoke(owner, id, cache_->clk.wall_now()),
                                   options_.store_timeout, make_error_code(errc::store_timeout));
}

asio::awaitable<void> api_key_auth::flush() const {
  co_await cache_->flush();
}

// handle() is no coroutine: a request without a key (the common case with
// `optional`) passes on without a frame of its own, and a refusal made from
// the headers alone goes out in a frame that holds only the answer. Only a
// request with a key waits, in authenticate(), whose frame stays small
// because admit() builds every answer outside it.
asio::awaitable<response> api_key_auth::handle(request& req, context& ctx,
                                               next_handler next) const {
  auto& c = *cache_;

  // Where the key is: X-API-Key, Authorization: Bearer, or (opt-in) the query.
  std::optional<std::string_view> header_key, bearer_key;
  if (auto it = req.find("X-API-Key"); it != req.end()) header_key = trim_ows(it->value());
  if (auto it = req.find(http::field::authorization); it != req.end()) {
    auto v = trim_ows(it->value());
    if (v.size() > 7 && iequals(v.substr(0, 7), "bearer ")) {
      auto token = trim_ows(v.substr(7));
      // With `optional`, a bearer token of another kind (a session token)
      // is left to whoever handles it.
      if (!options_.optional || token.starts_with(options_.format.prefix)) bearer_key = token;
    }
  }
  if (header_key && bearer_key && *header_key != *bearer_key) {
    c.counters.add(c_invalid);
    return detail::ready(ctx.error(req, http::status::bad_request,
                                   "send the API key once: X-API-Key and Authorization differ"));
  }
  std::optional<std::string_view> key = header_key ? header_key : bearer_key;
  if (!key && !options_.query_parameter.empty())
    key = query_value(ctx.raw_query, options_.query_parameter);

  if (!key || key->empty()) {
    if (options_.optional) return next(req, ctx);
    c.counters.add(c_missing);
    nlohmann::json details = {
        {"hint", "send the key in the X-API-Key header or as Authorization: Bearer <key>"}};
    auto res = ctx.error(req, http::status::unauthorized, "API key required", &details);
    res.set(http::field::www_authenticate, "Bearer realm=\"api\"");
    return detail::ready(std::move(res));
  }
  // The key points into the request's headers, which outlive the call.
  return authenticate(req, ctx, std::move(next), *key);
}

asio::awaitable<response> api_key_auth::authenticate(request& req, context& ctx, next_handler next,
                                                     std::string_view key) const {
  auto refusal = admit(req, ctx, co_await verify(key), key);
  if (refusal) co_return std::move(*refusal);
  co_return co_await next(req, ctx);
}

std::optional<response> api_key_auth::admit(request& req, context& ctx,
                                            const api_key_verdict& verdict,
                                            std::string_view key) const {
  auto& c = *cache_;
  if (verdict.status == api_key_status::unavailable) {
    c.counters.add(c_unavailable);
    auto res = ctx.error(req, http::status::service_unavailable, "authentication unavailable");
    res.set(http::field::retry_after, std::to_string(options_.retry_after_seconds));
    return res;
  }
  if (verdict.status != api_key_status::valid) {
    c.counters.add(c_invalid);
    if (options_.log.enabled(log_level::debug))
      options_.log.log(log_level::debug, "api_key.refused",
                       {{"name", options_.name},
                        {"reason", to_string(verdict.status)},
                        {"key", fingerprint(key)},
                        {"request_id", ctx.request_id}});
    auto res = ctx.error(req, http::status::unauthorized, "invalid API key");
    res.set(http::field::www_authenticate, "Bearer realm=\"api\", error=\"invalid_token\"");
    return res;
  }

  const auto& who = *verdict.who;
  ctx.who.via = identity::method::api_key;
  ctx.who.subject = who.owner;
  ctx.who.key_id = who.key_id;
  ctx.who.tier = who.tier;
  ctx.who.scopes = who.scopes;
  for (const auto& s : options_.required_scopes) {
    if (!ctx.who.has_scope(s)) {
      c.counters.add(c_forbidden);
      nlohmann::json details = {{"required", options_.required_scopes}};
      return ctx.error(req, http::status::forbidden, "missing scope", &details);
    }
  }
  c.counters.add(c_allowed);
  return std::nullopt;
}

std::shared_ptr<const middleware> require_scopes(std::vector<std::string> scopes) {
  if (scopes.empty())
    throw config_error(
        "require_scopes: no scope given; name at least one, such as "
        "\"items:write\"");
  for (const auto& s : scopes)
    if (!is_scope(s))
      throw config_error("require_scopes: scope \"" + s +
                         "\" is invalid; use 1..64 characters of [a-z0-9_:.-]");
  return make_middleware(
      [scopes = std::move(scopes)](request& req, context& ctx,
                                   next_handler next) -> asio::awaitable<response> {
        if (!ctx.who.authenticated()) {
          auto res = ctx.error(req, http::status::unauthorized, "authentication required");
          res.set(http::field::www_authenticate, "Bearer realm=\"api\"");
          co_return res;
        }
        for (const auto& s : scopes) {
          if (!ctx.who.has_scope(s)) {
            nlohmann::json details = {{"required", scopes}};
            co_return ctx.error(req, http::status::forbidden, "missing scope", &details);
          }
        }
        co_return co_await next(req, ctx);
      });
}

}  // namespace portcullis
