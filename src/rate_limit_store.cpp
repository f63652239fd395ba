#include "portcullis/rate_limit_store.hpp"

#include "portcullis/detail/rate_state.hpp"
#include "portcullis/errc.hpp"

#include <algorithm>
#include <stdexcept>

namespace portcullis {
namespace {

__extension__ typedef __int128 i128;  // count x window needs more than 64 bits
using std::chrono::nanoseconds;

constexpr std::int64_t one_ms = 1'000'000;
constexpr std::int64_t max_period = std::int64_t{366} * 24 * 3600 * 1'000'000'000;
constexpr std::uint64_t max_log_limit = 100'000;

std::string duration_text(nanoseconds d) {
  const std::int64_t n = d.count();
  struct unit {
    std::int64_t ns;
    const char* suffix;
  };
  for (unit u : {unit{86'400'000'000'000, "d"}, unit{3'600'000'000'000, "h"},
                 unit{60'000'000'000, "m"}, unit{1'000'000'000, "s"}, unit{1'000'000, "ms"}}) {
    if (n >= u.ns && n % u.ns == 0) return std::to_string(n / u.ns) + u.suffix;
  }
  return std::to_string(n) + "ns";
}

}  // namespace

std::string rate::to_string() const {
  return std::to_string(count_) + " per " + duration_text(period_);
}

std::string_view to_string(rate_algorithm a) noexcept {
  switch (a) {
    case rate_algorithm::fixed_window:
      return "fixed_window";
    case rate_algorithm::sliding_window_log:
      return "sliding_window_log";
    case rate_algorithm::sliding_window_counter:
      return "sliding_window_counter";
    case rate_algorithm::token_bucket:
      return "token_bucket";
    case rate_algorithm::gcra:
      return "gcra";
  }
  return "unknown";
}

rate_algorithm parse_rate_algorithm(std::string_view name) {
  for (auto a : {rate_algorithm::fixed_window, rate_algorithm::sliding_window_log,
                 rate_algorithm::sliding_window_counter, rate_algorithm::token_bucket,
                 rate_algorithm::gcra}) {
    if (to_string(a) == name) return a;
  }
  throw config_error("rate_limit: algorithm '" + std::string(name) +
                     "' does not exist; use fixed_window, sliding_window_log, "
                     "sliding_window_counter, token_bucket or gcra");
}

std::uint64_t rate_policy::limit() const noexcept {
  switch (algorithm_) {
    case rate_algorithm::token_bucket:
    case rate_algorithm::gcra:
      return burst();
    default:
      return rate_.count();
  }
}

// A splitmix-style mix: cheap, and no policy a user writes is adversarial.
std::uint64_t rate_policy::make_fingerprint() const noexcept {
  auto mix = [](std::uint64_t h, std::uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9;
    return h ^ (h >> 29);
  };
  std::uint64_t h = mix(static_cast<std::uint64_t>(algorithm_) + 1, limit());
  h = mix(h, static_cast<std::uint64_t>(window().count()));
  h = mix(h, burst());
  return h | 1;  // 0 is a fresh state's
}

nanoseconds rate_policy::emission_interval() const noexcept {
  if (rate_.count() == 0) return rate_.period();
  return nanoseconds{rate_.period().count() / static_cast<std::int64_t>(rate_.count())};
}

nanoseconds rate_policy::quota_period() const noexcept {
  switch (algorithm_) {
    case rate_algorithm::token_bucket:
    case rate_algorithm::gcra:
      return nanoseconds{emission_interval().count() * static_cast<std::int64_t>(burst())};
    default:
      return rate_.period();
  }
}

void rate_policy::validate(std::string_view what) const {
  const std::string w(what);
  if (rate_.count() == 0)
    throw config_error(w +
                       ": a rate of 0 requests allows nothing; give at least 1 (or do not "
                       "install the limiter)");
  if (rate_.period().count() < one_ms)
    throw config_error(w + ": a period of " + duration_text(rate_.period()) +
                       " is shorter than 1 ms; build the rate with rate::per_second(n), "
                       "rate::per_minute(n) or rate::per(n, duration) in the unit you mean");
  if (rate_.period().count() > max_period)
    throw config_error(w + ": a period over 366 days is not supported; use a shorter period");
  const bool bucket =
      algorithm_ == rate_algorithm::token_bucket || algorithm_ == rate_algorithm::gcra;
  if (!bucket && burst_ != 0 && burst_ != rate_.count())
    throw config_error(w + ": burst applies to token_bucket and gcra only; a " +
                       std::string(portcullis::to_string(algorithm_)) + "'s burst is its limit (" +
                       std::to_string(rate_.count()) + ")");
  if (bucket && emission_interval().count() < 1)
    throw config_error(w + ": " + rate_.to_string() +
                       " is more than one request per nanosecond; use a longer period");
  if (bucket && static_cast<i128>(emission_interval().count()) * burst() > max_period)
    throw config_error(w + ": the burst takes over 366 days to refill; lower the burst");
  if (algorithm_ == rate_algorithm::sliding_window_log && rate_.count() > max_log_limit)
    throw config_error(w +
                       ": sliding_window_log keeps one timestamp per request and allows at "
                       "most 100000 per window; use sliding_window_counter for " +
                       rate_.to_string());
}

std::string rate_policy::to_string() const {
  std::string s(portcullis::to_string(algorithm_));
  s += " " + rate_.to_string();
  if (burst_ != 0) s += " burst " + std::to_string(burst_);
  return s;
}

rate_decision rate_limit_store::consume_now(std::string_view, const rate_policy&, std::uint64_t) {
  throw std::logic_error("rate_limit_store: consume_now() called on an asynchronous store");
}

void rate_limit_store::refund_now(std::string_view, const rate_policy&, std::uint64_t,
                                  const rate_decision&) {
  throw std::logic_error("rate_limit_store: refund_now() called on an asynchronous store");
}

bool rate_limit_store::claim_prefix(std::string_view prefix) {
  std::lock_guard lock(prefixes_mutex_);
  return prefixes_.emplace(prefix).second;
}

void rate_limit_store::release_prefix(std::string_view prefix) {
  std::lock_guard lock(prefixes_mutex_);
  if (auto it = prefixes_.find(prefix); it != prefixes_.end()) prefixes_.erase(it);
}

// ---------------------------------------------------------------------------
// The algorithms. All arithmetic is in integer nanoseconds; products that can
// exceed 64 bits (count x window) are taken in 128 bits.
namespace detail {
namespace {

void reset_for(rate_state& s, std::uint64_t id) {
  s.policy = id;
  s.start = 0;
  s.count = 0;
  s.previous = 0;
  s.expires = 0;
  if (s.log) {
    s.log->entries.clear();
    s.log->head = 0;
  }
}

rate_decision fixed_window(rate_state& s, const rate_policy& p, std::uint64_t cost,
                           std::int64_t now, bool is_new) {
  const std::int64_t w = p.window().count();
  const std::uint64_t limit = p.limit();
  if (is_new || now >= s.start + w) {
    s.start = now;
    s.count = 0;
  }
  rate_decision d;
  d.limit = limit;
  d.stamp = s.start;
  if (cost <= limit && s.count + cost <= limit) {
    s.count += cost;
    d.allowed = true;
  } else {
    d.never = cost > limit;
    if (!d.never) d.retry_after = nanoseconds{s.start + w - now};
  }
  d.remaining = limit - s.count;
  d.reset = nanoseconds{s.count > 0 ? s.start + w - now : 0};
  s.expires = s.count > 0 ? s.start + w : now;
  return d;
}

rate_decision sliding_log(rate_state& s, const rate_policy& p, std::uint64_t cost,
                          std::int64_t now) {
  const std::int64_t w = p.window().count();
  const std::uint64_t limit = p.limit();
  if (!s.log) s.log = std::make_unique<rate_log>();
  auto& log = s.log->entries;
  auto& log_head = s.log->head;
  // Units counted at t count during [t, t + w). Expired entries are dropped
  // by moving the head; the dead prefix is compacted once it is half the
  // vector, so each entry is moved O(1) times on average.
  auto first = log.begin() + log_head;
  auto alive = std::upper_bound(first, log.end(), now - w);
  log_head = static_cast<std::uint32_t>(alive - log.begin());
  if (log_head > 32 && log_head * 2 > log.size()) {
    log.erase(log.begin(), alive);
    log_head = 0;
  }
  const std::size_t head = log_head;

  rate_decision d;
  d.limit = limit;
  d.stamp = now;
  const std::uint64_t n = log.size() - head;
  if (cost <= limit && n + cost <= limit) {
    log.insert(log.end(), cost, now);
    d.allowed = true;
  } else if (cost > limit) {
    d.never = true;
  } else {
    // The (n + cost - limit)-th oldest unit must leave first.
    const std::size_t k = n + cost - limit;
    d.retry_after = nanoseconds{log[head + k - 1] + w - now};
  }
  const bool empty = log.size() == head;
  d.remaining = limit - (log.size() - head);
  d.reset = nanoseconds{empty ? 0 : log.back() + w - now};
  s.expires = empty ? now : log.back() + w;
  return d;
}

rate_decision sliding_counter(rate_state& s, const rate_policy& p, std::uint64_t cost,
                              std::int64_t now, bool is_new) {
  const std::int64_t w = p.window().count();
  const std::uint64_t limit = p.limit();
  if (is_new) {
    s.start = now;
  } else if (now >= s.start + w) {
    const std::int64_t k = (now - s.start) / w;
    s.previous = k == 1 ? s.count : 0;
    s.count = 0;
    s.start += k * w;
  }
  const std::int64_t e = now - s.start;  // 0 <= e < w
  const i128 weighted_prev = static_cast<i128>(s.previous) * (w - e);
  const i128 budget = static_cast<i128>(limit) * w;

  rate_decision d;
  d.limit = limit;
  d.stamp = s.start;
  if (cost <= limit && weighted_prev + static_cast<i128>(s.count + cost) * w <= budget) {
    s.count += cost;
    d.allowed = true;
  } else if (cost > limit) {
    d.never = true;
  } else if (s.count + cost <= limit) {
    // Fits in this window once enough of the previous one has slid out:
    // previous x (w - e') <= (limit - count - cost) x w.
    const i128 room = static_cast<i128>(limit - s.count - cost) * w;
    const std::int64_t e_needed = w - static_cast<std::int64_t>(room / s.previous);
    d.retry_after = nanoseconds{e_needed - e};
  } else {
    // Needs the next window, where this window's count becomes the previous.
    const i128 room = static_cast<i128>(limit - cost) * w;
    const std::int64_t e2 = w - static_cast<std::int64_t>(room / s.count);
    d.retry_after = nanoseconds{s.start + w - now + e2};
  }
  const i128 used = weighted_prev + static_cast<i128>(s.count) * w;
  d.remaining = used >= budget ? 0 : static_cast<std::uint64_t>((budget - used) / w);
  const std::int64_t end = s.count > 0 ? s.start + 2 * w : s.previous > 0 ? s.start + w : now;
  d.reset = nanoseconds{end - now};
  s.expires = end;
  return d;
}

rate_decision token_bucket(rate_state& s, const rate_policy& p, std::uint64_t cost,
                           std::int64_t now, bool is_new) {
  const std::int64_t t = p.emission_interval().count();
  const std::uint64_t cap = p.burst();
  if (is_new) {
    s.count = cap;
    s.start = now;
  } else {
    // Refill in whole tokens; the fraction of a token carries over in start.
    const std::int64_t n = (now - s.start) / t;
    if (n > 0) {
      s.count = static_cast<std::uint64_t>(std::min<i128>(cap, static_cast<i128>(s.count) + n));
      s.start += n * t;
    }
  }
  if (s.count >= cap) {
    s.count = cap;
    s.start = now;  // a full bucket earns nothing; its clock starts on the next take
  }

  rate_decision d;
  d.limit = cap;
  d.stamp = now;
  if (cost <= cap && s.count >= cost) {
    s.count -= cost;
    d.allowed = true;
  } else if (cost > cap) {
    d.never = true;
  } else {
    d.retry_after = nanoseconds{static_cast<std::int64_t>(cost - s.count) * t - (now - s.start)};
  }
  d.remaining = s.count;
  const std::int64_t to_full =
      s.count >= cap ? 0 : static_cast<std::int64_t>(cap - s.count) * t - (now - s.start);
  d.reset = nanoseconds{to_full};
  s.expires = now + to_full;
  return d;
}

rate_decision gcra(rate_state& s, const rate_policy& p, std::uint64_t cost, std::int64_t now,
                   bool is_new) {
  const std::int64_t t = p.emission_interval().count();
  const std::uint64_t burst = p.burst();
  const std::int64_t tau = t * static_cast<std::int64_t>(burst);
  const std::int64_t tat = is_new ? now : std::max(s.start, now);

  rate_decision d;
  d.limit = burst;
  if (cost > burst) {
    d.never = true;
  } else {
    const std::int64_t new_tat = tat + static_cast<std::int64_t>(cost) * t;
    if (new_tat - now <= tau) {
      s.start = new_tat;
      d.allowed = true;
    } else {
      d.retry_after = nanoseconds{new_tat - now - tau};
    }
  }
  if (!d.allowed) s.start = tat;
  const std::int64_t used = s.start - now;  // 0 .. tau
  d.remaining = static_cast<std::uint64_t>((tau - used) / t);
  d.reset = nanoseconds{used};
  d.stamp = s.start;
  s.expires = s.start;
  return d;
}

}  // namespace

rate_decision apply_consume(rate_state& s, const rate_policy& p, std::uint64_t cost,
                            std::int64_t now) {
  // A fresh key, a key whose state has expired, or one last used under
  // another policy, starts afresh.
  const std::uint64_t id = p.fingerprint();
  const bool is_new = s.policy != id || now >= s.expires;
  if (is_new) reset_for(s, id);
  switch (p.algorithm()) {
    case rate_algorithm::fixed_window:
      return fixed_window(s, p, cost, now, is_new);
    case rate_algorithm::sliding_window_log:
      return sliding_log(s, p, cost, now);
    case rate_algorithm::sliding_window_counter:
      return sliding_counter(s, p, cost, now, is_new);
    case rate_algorithm::token_bucket:
      return token_bucket(s, p, cost, now, is_new);
    case rate_algorithm::gcra:
      return gcra(s, p, cost, now, is_new);
  }
  return {};
}

void apply_refund(rate_state& s, const rate_policy& p, std::uint64_t cost,
                  const rate_decision& taken, std::int64_t now) {
  if (!taken.allowed || cost == 0 || s.policy != p.fingerprint() || now >= s.expires) return;
  const std::int64_t w = p.window().count();
  switch (p.algorithm()) {
    case rate_algorithm::fixed_window:
      // Only into the window the units were taken from, and only while it lasts.
      if (s.start == taken.stamp && now < s.start + w) s.count -= std::min(cost, s.count);
      break;
    case rate_algorithm::sliding_window_counter:
      if (s.start == taken.stamp && now < s.start + w) s.count -= std::min(cost, s.count);
      break;
    case rate_algorithm::sliding_window_log: {
      if (taken.stamp + w <= now) break;  // those entries have left already
      if (!s.log) break;
      auto& log = s.log->entries;
      auto [lo, hi] = std::equal_range(log.begin() + s.log->head, log.end(), taken.stamp);
      const auto n = std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(cost), hi - lo);
      log.erase(hi - n, hi);
      s.expires = log.size() == s.log->head ? now : log.back() + w;
      break;
    }
    case rate_algorithm::token_bucket: {
      // Only the part of the cost not yet earned back by refilling since it
      // was taken; the rest the bucket has already regained.
      const std::int64_t t = p.emission_interval().count();
      const std::uint64_t earned = static_cast<std::uint64_t>((now - taken.stamp + t - 1) / t);
      const std::uint64_t back = std::min(cost, p.burst());
      if (back <= earned) break;
      const std::int64_t n = (now - s.start) / t;
      if (n > 0) {
        s.count =
            static_cast<std::uint64_t>(std::min<i128>(p.burst(), static_cast<i128>(s.count) + n));
        s.start += n * t;
      }
      s.count = std::min<std::uint64_t>(p.burst(), s.count + (back - earned));
      if (s.count >= p.burst()) s.start = now;
      const std::int64_t to_full =
          s.count >= p.burst()
              ? 0
              : static_cast<std::int64_t>(p.burst() - s.count) * t - (now - s.start);
      s.expires = now + to_full;
      break;
    }
    case rate_algorithm::gcra: {
      // The consume moved the arrival time to `stamp`; what of it lies in
      // the past has been earned back already and is not refunded.
      const std::int64_t t = p.emission_interval().count();
      if (taken.stamp <= now) break;
      const auto outstanding = static_cast<std::uint64_t>((taken.stamp - now) / t);
      const auto back = static_cast<std::int64_t>(std::min({cost, p.burst(), outstanding}));
      s.start = std::max(now, s.start - back * t);
      s.expires = s.start;
      break;
    }
  }
}

}  // namespace detail
}  // namespace portcullis
