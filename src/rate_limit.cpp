#include "portcullis/rate_limit.hpp"

#include "portcullis/chain.hpp"
#include "portcullis/detail/ascii.hpp"
#include "portcullis/detail/ready.hpp"
#include "portcullis/errc.hpp"
#include "portcullis/json_body.hpp"
#include "portcullis/memory_rate_limit_store.hpp"

#include <openssl/sha.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <exception>
#include <optional>
#include <system_error>

namespace portcullis {
namespace {

using std::chrono::nanoseconds;

enum counter : std::size_t {
  c_allowed,
  c_limited,
  c_near_limit,
  c_dry_run_limited,
  c_skipped,
  c_refunded,
  c_store_errors,
  c_failed_open,
  c_failed_closed,
  c_misuse,
};

std::int64_t seconds_up(nanoseconds d) noexcept {
  if (d.count() <= 0) return 0;
  return (d.count() + 999'999'999) / 1'000'000'000;
}

// base64 of the first 12 bytes of SHA-256(key): 16 characters, no padding.
std::array<char, 16> partition_of(std::string_view key) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
  std::array<char, 16> out{};
  for (int i = 0; i < 4; ++i) {
    const unsigned v = digest[3 * i] << 16 | digest[3 * i + 1] << 8 | digest[3 * i + 2];
    out[4 * i] = alphabet[v >> 18 & 63];
    out[4 * i + 1] = alphabet[v >> 12 & 63];
    out[4 * i + 2] = alphabet[v >> 6 & 63];
    out[4 * i + 3] = alphabet[v & 63];
  }
  return out;
}

// "15min", "1h", "30s": the window in the policy name of the draft8 form.
std::string window_words(nanoseconds w) {
  const std::int64_t s = seconds_up(w);
  if (s % 86400 == 0) return std::to_string(s / 86400) + "day";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "hr";
  if (s % 60 == 0) return std::to_string(s / 60) + "min";
  return std::to_string(s) + "sec";
}

std::string ip_key(const context& ctx, unsigned v6_prefix) {
  return "ip:" + address_key(ctx.client_address, v6_prefix);
}

std::string normalized(std::string_view v) {
  while (!v.empty() && detail::is_ascii_space(v.front())) v.remove_prefix(1);
  while (!v.empty() && detail::is_ascii_space(v.back())) v.remove_suffix(1);
  return detail::to_ascii_lower(v);
}

}  // namespace

std::int64_t retry_after_seconds(nanoseconds wait) noexcept {
  return std::max<std::int64_t>(1, seconds_up(wait));
}

std::string_view to_string(rate_limit_headers h) noexcept {
  switch (h) {
    case rate_limit_headers::none:
      return "none";
    case rate_limit_headers::draft6:
      return "draft-6";
    case rate_limit_headers::draft7:
      return "draft-7";
    case rate_limit_headers::draft8:
      return "draft-8";
    case rate_limit_headers::ietf:
      return "ietf";
  }
  return "unknown";
}

rate_limit_headers parse_rate_limit_headers(std::string_view name) {
  for (auto h : {rate_limit_headers::none, rate_limit_headers::draft6, rate_limit_headers::draft7,
                 rate_limit_headers::draft8, rate_limit_headers::ietf}) {
    if (to_string(h) == name) return h;
  }
  throw config_error("rate_limit: headers '" + std::string(name) +
                     "' does not exist; use none, draft-6, draft-7, draft-8 or ietf");
}

// ---------------------------------------------------------------------------
namespace rate_key {

rate_key_function client_ip(unsigned v6_prefix) {
  return [v6_prefix](const request&, const context& ctx) { return ip_key(ctx, v6_prefix); };
}

rate_key_function user(unsigned v6_prefix) {
  return [v6_prefix](const request&, const context& ctx) {
    if (ctx.who.authenticated() && !ctx.who.subject.empty()) return "user:" + ctx.who.subject;
    return ip_key(ctx, v6_prefix);
  };
}

rate_key_function owner_and_tier(unsigned v6_prefix) {
  return [v6_prefix](const request&, const context& ctx) {
    if (ctx.who.authenticated() && !ctx.who.subject.empty())
      return "owner:" + ctx.who.subject + ":" + ctx.who.tier;
    return ip_key(ctx, v6_prefix);
  };
}

rate_key_function ip_and_body_field(std::string field, unsigned v6_prefix) {
  return [field, v6_prefix](const request& req, const context& ctx) {
    std::string value;
    auto pick = [&](const nlohmann::json& body) {
      if (!body.is_object()) return;
      auto it = body.find(field);
      if (it != body.end() && it->is_string())
        value = normalized(it->get_ref<const std::string&>());
    };
    if (ctx.body) {
      pick(*ctx.body);
    } else if (!req.body().empty()) {
      // Not validated yet: the strict parser the validator uses (garbage,
      // a NUL byte or a repeated key is "no value"), so that the key names
      // the field the handler will see.
      if (auto parsed = parse_json(req.body()); parsed.ok()) pick(parsed.value);
    }
    return ip_key(ctx, v6_prefix) + "|" + field + ":" + value;
  };
}

}  // namespace rate_key

// ---------------------------------------------------------------------------
struct rate_limit::impl {
  explicit impl(rate_limit_options o)
      : options(std::move(o)),
        counters("rate_limit", options.name.empty() ? "unnamed" : options.name,
                 {"allowed", "limited", "near_limit", "dry_run_limited", "skipped", "refunded",
                  "store_errors", "failed_open", "failed_closed", "misuse"}) {}

  const rate_policy& policy_for(const context& ctx) const noexcept {
    if (!ctx.who.tier.empty()) {
      for (const auto& [tier, p] : options.tiers)
        if (tier == ctx.who.tier) return p;
    }
    return *options.policy;
  }

  void warn(log_throttle& throttle, std::string_view event,
            std::initializer_list<log_field> extra) const {
    std::uint64_t held = 0;
    if (!options.log.enabled(log_level::warning) || !throttle.allow(*clk, held)) return;
    std::vector<log_field> fields{{"limiter", std::string_view(options.name)}};
    fields.insert(fields.end(), extra.begin(), extra.end());
    fields.emplace_back("suppressed", held);
    options.log.log(log_level::warning, event, fields);
  }

  response denial(const request& req, const context& ctx, const rate_decision& d) const {
    if (options.deny) return options.deny(req, ctx, d);
    if (d.never)
      return ctx.error(req, http::status::too_many_requests,
                       "request exceeds the rate limit's capacity");
    return ctx.error(req, http::status::too_many_requests, "too many requests");
  }

  void write_headers(response& res, const context& ctx) const;

  // The steps of handle() (below it): waiting for an asynchronous store,
  // a store failure, and what follows a decision (d empty: the store failed).
  asio::awaitable<response> await_store(const rate_limit* self, request& req, context& ctx,
                                        next_handler next, std::string key,
                                        const rate_policy& policy, std::uint64_t cost) const;
  void store_failed(const std::system_error& e) const;
  asio::awaitable<response> proceed(const rate_limit* self, request& req, context& ctx,
                                    next_handler next, std::string key, const rate_policy& policy,
                                    std::uint64_t cost,
                                    const std::optional<rate_decision>& d) const;
  asio::awaitable<response> decorate(request& req, context& ctx, next_handler next) const;
  asio::awaitable<response> with_refund(request& req, context& ctx, next_handler next,
                                        std::string key, const rate_policy& policy,
                                        std::uint64_t cost, rate_decision d, bool outermost) const;

  rate_limit_options options;
  mutable counter_set counters;
  std::string prefix;
  std::string draft8_name;
  const clock* clk = &system_clock();
  bool needs_partition = false;
  mutable log_throttle store_warning{std::chrono::seconds(30)};
  mutable log_throttle twice_warning{std::chrono::minutes(10)};
  mutable log_throttle forwarding_warning{std::chrono::minutes(10)};
  mutable log_throttle hook_warning{std::chrono::minutes(1)};
};

rate_limit::rate_limit(rate_limit_options o) : impl_(std::make_unique<impl>(std::move(o))) {
  auto& opt = impl_->options;
  const std::string what = "rate_limit '" + opt.name + "'";
  if (!detail::is_lower_snake_word(opt.name))
    throw config_error("rate_limit: name '" + opt.name +
                       "' must be [a-z0-9_]+ (it names counters, logs and store keys)");
  if (!opt.policy)
    throw config_error(what +
                       ": policy is missing; set one, e.g. "
                       "rate_policy::fixed_window(rate::per_minute(100))");
  opt.policy->validate(what + ": policy");
  for (std::size_t i = 0; i < opt.tiers.size(); ++i) {
    const auto& [tier, p] = opt.tiers[i];
    if (tier.empty()) throw config_error(what + ": a tier has an empty name; name every tier");
    for (std::size_t j = 0; j < i; ++j)
      if (opt.tiers[j].first == tier)
        throw config_error(what + ": tier '" + tier + "' is listed twice; list it once");
    p.validate(what + ": tier '" + tier + "'");
  }
  if (!opt.key)
    throw config_error(what + ": key is empty; give a key function, e.g. rate_key::client_ip()");
  if (static_cast<unsigned>(opt.headers) > static_cast<unsigned>(rate_limit_headers::ietf))
    throw config_error(what +
                       ": headers has no such form; use none, draft6, draft7, draft8 "
                       "or ietf");
  if (!(opt.near_limit > 0.0 && opt.near_limit <= 1.0))
    throw config_error(what + ": near_limit must be within (0, 1], e.g. 0.8");
  if (opt.on_store_error && static_cast<unsigned>(*opt.on_store_error) > 1)
    throw config_error(what + ": on_store_error must be fail_open or fail_closed");
  if (!opt.succeeded) opt.succeeded = [](const response& r) { return r.result_int() < 400; };
  if (!opt.store) opt.store = std::make_shared<memory_rate_limit_store>();

  // A store that can fail needs a declared policy: neither path is a safe
  // default for every limit (issue #4), so the choice is the user's.
  if (!opt.on_store_error && opt.store->can_fail())
    throw config_error(what +
                       ": on_store_error is required because its store can fail; set "
                       "store_failure::fail_open (let requests through uncounted) or "
                       "store_failure::fail_closed (answer 503)");
  if (opt.key_prefix.empty()) opt.key_prefix = opt.name;
  impl_->prefix = opt.key_prefix + ":";
  if (!opt.store->claim_prefix(opt.key_prefix))
    throw config_error(what + ": another limiter on the same store already uses key prefix '" +
                       opt.key_prefix +
                       "'; the two would count each other's requests. Give "
                       "each limiter its own name or key_prefix");
  impl_->needs_partition =
      opt.headers == rate_limit_headers::draft8 || opt.headers == rate_limit_headers::ietf;
  impl_->draft8_name =
      std::to_string(opt.policy->limit()) + "-in-" + window_words(opt.policy->quota_period());

  // Windows under a second cannot be told to clients: headers carry seconds.
  auto short_window = [&](const rate_policy& p) {
    return p.algorithm() != rate_algorithm::token_bucket && p.algorithm() != rate_algorithm::gcra &&
           p.window() < std::chrono::seconds(1);
  };
  bool any_short = short_window(*opt.policy);
  for (const auto& t : opt.tiers) any_short = any_short || short_window(t.second);
  if (any_short && opt.log.enabled(log_level::warning)) {
    impl_->counters.add(c_misuse);
    opt.log.log(log_level::warning, "rate_limit.short_window",
                {{"limiter", std::string_view(opt.name)},
                 {"policy", opt.policy->to_string()},
                 {"hint", "a window under 1 s is reported as w=1; was the unit intended?"}});
  }
}

rate_limit::~rate_limit() {
  if (impl_ && impl_->options.store)
    impl_->options.store->release_prefix(impl_->options.key_prefix);
}

const counter_set* rate_limit::counters() const noexcept {
  return &impl_->counters;
}
const rate_limit_options& rate_limit::options() const noexcept {
  return impl_->options;
}
rate_limit_store& rate_limit::store() const noexcept {
  return *impl_->options.store;
}

std::string rate_limit::store_key(std::string_view key) const {
  return impl_->prefix + std::string(key);
}

void rate_limit::audit(const chain& c) const {
  // If addresses from every documentation range are trusted proxies, the
  // chain trusts everyone: clients write their own X-Forwarded-For.
  bool all = true;
  for (auto text : {"192.0.2.1", "198.51.100.7", "203.0.113.9", "2001:db8::1"})
    all = all && c.resolver().is_trusted(*parse_address(text));
  if (!all) return;
  impl_->counters.add(c_misuse);
  impl_->warn(impl_->forwarding_warning, "rate_limit.trusts_everyone",
              {{"hint",
                "trusted_proxies covers every address: clients choose their own key; "
                "list only your proxies"}});
}

void rate_limit::impl::write_headers(response& res, const context& ctx) const {
  const std::size_t n = ctx.rate_limit_count;
  if (n == 0) return;
  const auto* notes = ctx.rate_limits.data();

  // The most restrictive decision: a denial with the longest wait, else the
  // least remaining, else the latest reset.
  const rate_limit_note* worst = &notes[0];
  for (std::size_t i = 1; i < n; ++i) {
    const auto& a = notes[i];
    const auto& b = *worst;
    bool more;
    if (a.allowed != b.allowed)
      more = !a.allowed;
    else if (!a.allowed)
      more = a.retry_after > b.retry_after;
    else if (a.remaining != b.remaining)
      more = a.remaining < b.remaining;
    else
      more = a.reset > b.reset;
    if (more) worst = &a;
  }
  auto t_of = [](const rate_limit_note& x) {
    return x.allowed ? seconds_up(x.reset) : retry_after_seconds(x.retry_after);
  };
  auto w_of = [](const rate_limit_note& x) {
    return std::max<std::int64_t>(1, seconds_up(x.window));
  };

  std::string policy_list, state_list;
  switch (options.headers) {
    case rate_limit_headers::none:
      break;
    case rate_limit_headers::draft6:
    case rate_limit_headers::draft7: {
      for (std::size_t i = 0; i < n; ++i) {
        std::string item = std::to_string(notes[i].limit) + ";w=" + std::to_string(w_of(notes[i]));
        if (policy_list.find(item) != std::string::npos) continue;  // no duplicate values
        if (!policy_list.empty()) policy_list += ", ";
        policy_list += item;
      }
      res.set("RateLimit-Policy", policy_list);
      if (options.headers == rate_limit_headers::draft6) {
        res.set("RateLimit-Limit", std::to_string(worst->limit));
        res.set("RateLimit-Remaining", std::to_string(worst->remaining));
        res.set("RateLimit-Reset", std::to_string(t_of(*worst)));
      } else {
        res.set("RateLimit", "limit=" + std::to_string(worst->limit) +
                                 ", remaining=" + std::to_string(worst->remaining) +
                                 ", reset=" + std::to_string(t_of(*worst)));
      }
      break;
    }
    case rate_limit_headers::draft8:
    case rate_limit_headers::ietf: {
      for (std::size_t i = 0; i < n; ++i) {
        const auto& x = notes[i];
        std::string name = "\"" + std::string(x.name) + "\"";
        if (!policy_list.empty()) {
          policy_list += ", ";
          state_list += ", ";
        }
        policy_list += name + ";q=" + std::to_string(x.limit) + ";w=" + std::to_string(w_of(x));
        if (x.partition[0] != 0)
          policy_list += ";pk=:" + std::string(x.partition.data(), x.partition.size()) + ":";
        state_list += name + ";r=" + std::to_string(x.remaining) + ";t=" + std::to_string(t_of(x));
      }
      res.set("RateLimit-Policy", policy_list);
      res.set("RateLimit", state_list);
      break;
    }
  }
  if (options.legacy_headers) {
    // An epoch time, unlike the drafts' delta seconds.
    const auto epoch =
        std::chrono::duration_cast<std::chrono::seconds>(ctx.time().wall_now().time_since_epoch())
            .count();
    const std::int64_t wait = worst->allowed ? seconds_up(worst->reset) : t_of(*worst);
    res.set("X-RateLimit-Limit", std::to_string(worst->limit));
    res.set("X-RateLimit-Remaining", std::to_string(worst->remaining));
    res.set("X-RateLimit-Reset", std::to_string(epoch + wait));
  }

  // Retry-After on every 429 from a limiter: the longest wait of the
  // denials, never earlier than the t above.
  if (res.result() == http::status::too_many_requests) {
    nanoseconds wait{0};
    bool denied = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (!notes[i].allowed) {
        denied = true;
        wait = std::max(wait, notes[i].retry_after);
      }
    }
    if (denied) res.set(http::field::retry_after, std::to_string(retry_after_seconds(wait)));
  }
}

// handle() is no coroutine, so that the frames a request pays for are only
// those it needs: none for a skipped request, a request allowed by an inner
// limiter (it writes no headers) or by the in-memory store's synchronous
// path; one holding just the answer for a denial; a small one (decorate or
// with_refund) around the rest of the chain when the outermost limiter
// writes its headers or a refund may follow; and await_store's for a store
// that must be waited for. Every answer is built in plain functions, so no
// frame holds more than one response.
asio::awaitable<response> rate_limit::handle(request& req, context& ctx, next_handler next) const {
  const impl& m = *impl_;
  const auto& opt = m.options;

  // Skip: not counted, no headers from this limiter.
  if (opt.skip && opt.skip(req, ctx)) {
    m.counters.add(c_skipped);
    return next(req, ctx);
  }

  // The same limiter twice on one request (a prefix and a route): the
  // second pass would count the request again.
  for (std::size_t i = 0; i < ctx.rate_limit_count; ++i) {
    if (ctx.rate_limits[i].limiter == this) {
      m.counters.add(c_misuse);
      m.warn(m.twice_warning, "rate_limit.counted_twice",
             {{"path", ctx.path},
              {"hint", "this limiter is installed twice on this request's path; install it once"}});
      return next(req, ctx);
    }
  }

  // A forwarding header from a peer we do not trust: the limiter keys the
  // proxy, so every client behind it shares one budget.
  if (ctx.client_address == ctx.peer_address &&
      (req.count("X-Forwarded-For") != 0 || req.count(http::field::forwarded) != 0)) {
    m.counters.add(c_misuse);
    m.warn(m.forwarding_warning, "rate_limit.untrusted_forwarding",
           {{"peer", ctx.peer_address.to_string()},
            {"hint",
             "a forwarding header came from a peer that is not a trusted proxy; add "
             "your proxy to trusted_proxies or every client behind it shares one key"}});
  }

  const std::uint64_t cost = opt.cost ? opt.cost(req, ctx) : 1;
  std::string client_key = opt.key(req, ctx);
  if (cost == 0 || client_key.empty()) {
    m.counters.add(c_skipped);
    return next(req, ctx);
  }
  const rate_policy& policy = m.policy_for(ctx);
  std::string key = m.prefix + client_key;

  // Decide. Store errors take the declared path; a denial is a value.
  if (!opt.store->synchronous())
    return m.await_store(this, req, ctx, std::move(next), std::move(key), policy, cost);
  std::optional<rate_decision> d;
  try {
    d = opt.store->consume_now(key, policy, cost);
  } catch (const std::system_error& e) {
    m.store_failed(e);
  }
  return m.proceed(this, req, ctx, std::move(next), std::move(key), policy, cost, d);
}

asio::awaitable<response> rate_limit::impl::await_store(const rate_limit* self, request& req,
                                                        context& ctx, next_handler next,
                                                        std::string key, const rate_policy& policy,
                                                        std::uint64_t cost) const {
  std::optional<rate_decision> d;
  try {
    d = co_await options.store->consume(key, policy, cost);
  } catch (const std::system_error& e) {
    store_failed(e);
  }
  co_return co_await proceed(self, req, ctx, std::move(next), std::move(key), policy, cost, d);
}

void rate_limit::impl::store_failed(const std::system_error& e) const {
  counters.add(c_store_errors);
  warn(store_warning, "rate_limit.store_error",
       {{"error", std::string_view(e.what())},
        {"policy",
         options.on_store_error == store_failure::fail_closed ? "fail_closed" : "fail_open"}});
}

asio::awaitable<response> rate_limit::impl::proceed(const rate_limit* self, request& req,
                                                    context& ctx, next_handler next,
                                                    std::string key, const rate_policy& policy,
                                                    std::uint64_t cost,
                                                    const std::optional<rate_decision>& d) const {
  const auto& opt = options;
  const bool outermost = ctx.rate_limit_count == 0;

  // The store failed (d empty): the declared policy.
  if (!d) {
    if (opt.on_store_error == store_failure::fail_closed) {
      counters.add(c_failed_closed);
      auto res = ctx.error(req, http::status::service_unavailable, "rate limiter unavailable");
      res.set(http::field::retry_after, "1");
      return detail::ready(std::move(res));
    }
    counters.add(c_failed_open);
    return next(req, ctx);
  }

  // Note the decision for the headers (written by the outermost limiter).
  if (ctx.rate_limit_count < max_rate_limits) {
    auto& note = ctx.rate_limits[ctx.rate_limit_count++];
    note.limiter = self;
    note.name = opt.headers == rate_limit_headers::draft8 ? std::string_view(draft8_name)
                                                          : std::string_view(opt.name);
    note.limit = d->limit;
    note.remaining = d->remaining;
    note.window = policy.quota_period();
    note.reset = d->reset;
    // A cost that never fits: tell the client to wait out a whole quota.
    note.retry_after = d->never ? policy.quota_period() : d->retry_after;
    note.allowed = d->allowed || opt.dry_run;
    if (needs_partition) note.partition = partition_of(std::string_view(key).substr(prefix.size()));
  }

  if (!d->allowed) {
    if (opt.on_limited) {
      try {
        opt.on_limited(req, ctx, *d);
      } catch (const std::exception& e) {
        warn(hook_warning, "rate_limit.hook_error", {{"error", std::string_view(e.what())}});
      }
    }
    if (!opt.dry_run) {
      counters.add(c_limited);
      auto res = denial(req, ctx, *d);
      if (outermost) write_headers(res, ctx);
      return detail::ready(std::move(res));
    }
    counters.add(c_dry_run_limited);
  } else {
    counters.add(c_allowed);
    // near_limit: once, when this request crosses the threshold.
    const double threshold = opt.near_limit * static_cast<double>(d->limit);
    const auto used_after = static_cast<double>(d->limit - d->remaining);
    const double used_before = used_after - static_cast<double>(cost);
    if (used_after >= threshold && used_before < threshold) counters.add(c_near_limit);
  }

  // Run the rest; refund afterwards when the outcome says so.
  if (d->allowed && (opt.skip_successful || opt.skip_failed))
    return with_refund(req, ctx, std::move(next), std::move(key), policy, cost, *d, outermost);
  if (outermost) return decorate(req, ctx, std::move(next));
  return next(req, ctx);
}

asio::awaitable<response> rate_limit::impl::decorate(request& req, context& ctx,
                                                     next_handler next) const {
  auto res = co_await next(req, ctx);
  write_headers(res, ctx);
  co_return res;
}

// A handler that throws (the client disconnected, an error) counts as failed.
asio::awaitable<response> rate_limit::impl::with_refund(request& req, context& ctx,
                                                        next_handler next, std::string key,
                                                        const rate_policy& policy,
                                                        std::uint64_t cost, rate_decision d,
                                                        bool outermost) const {
  std::exception_ptr failure;
  std::optional<response> res;
  try {
    res.emplace(co_await next(req, ctx));
  } catch (...) {
    failure = std::current_exception();
  }
  const bool ok = !failure && options.succeeded(*res);
  if ((ok && options.skip_successful) || (!ok && options.skip_failed)) {
    try {
      if (options.store->synchronous())
        options.store->refund_now(key, policy, cost, d);
      else
        co_await options.store->refund(key, policy, cost, d);
      counters.add(c_refunded);
    } catch (const std::system_error& e) {
      counters.add(c_store_errors);
      warn(store_warning, "rate_limit.store_error",
           {{"error", std::string_view(e.what())}, {"during", "refund"}});
    }
  }
  if (failure) std::rethrow_exception(failure);
  if (outermost) write_headers(*res, ctx);
  co_return std::move(*res);
}

}  // namespace portcullis
