#include "scripts.hpp"

#include "portcullis/detail/redis_scripts.hpp"

#include <chrono>
#include <cstdio>

namespace portcullis::redis::detail {
namespace {

// Shared by every script: arguments, the clock, and the hash state that all
// algorithms but the log keep (p = policy tag, x = when the state becomes
// equal to a fresh one, s = start / TAT / refill instant, c = count or
// tokens, q = previous window's count).
constexpr const char* prelude = R"lua(
local key = KEYS[1]
local now
if ARGV[1] == '' then
  -- The server's clock, so that instances with skewed clocks agree.
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local cost, limit, w = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local burst, t, tag = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local eps = 1e-9

-- Numbers handed to Redis are formatted here: Redis would print them with
-- 14 significant digits, too few for a time in microseconds.
local function num(v) return string.format('%.17g', v) end

-- The state, or nil when the key holds nothing current for this policy
-- (absent, expired, another policy, another type).
local function load()
  local st = redis.pcall('HMGET', key, 'p', 'x', 's', 'c', 'q')
  if st.err then
    redis.call('DEL', key)
    return nil
  end
  if st[1] ~= tag or not st[2] or now >= tonumber(st[2]) then return nil end
  return {s = tonumber(st[3]), c = tonumber(st[4]), q = tonumber(st[5])}
end

-- Writes the state with a TTL that ends when it equals a fresh one; a
-- state that already does is deleted instead. No key lives forever.
local function save(x, s, c, q)
  if x <= now then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'p', tag, 'x', num(x), 's', num(s), 'c', num(c), 'q', num(q))
  redis.call('PEXPIRE', key, num(math.ceil((x - now) / 1000) + 1))
end

local function answer(allowed, never, remaining, reset, retry, stamp)
  return {allowed, never, math.floor(remaining), math.ceil(reset), math.ceil(retry), stamp}
end
)lua";

constexpr const char* fixed_window_consume = R"lua(
local st = load()
local s, c = now, 0
if st and now < st.s + w then s, c = st.s, st.c end
local allowed, never, retry = 0, 0, 0
if cost <= limit and c + cost <= limit then
  c = c + cost
  allowed = 1
elseif cost > limit then
  never = 1
else
  retry = s + w - now
end
local x, reset = now, 0
if c > 0 then x, reset = s + w, s + w - now end
save(x, s, c, 0)
return answer(allowed, never, limit - c, reset, retry, s)
)lua";

constexpr const char* sliding_counter_consume = R"lua(
local st = load()
local s, c, q = now, 0, 0
if st then
  s, c, q = st.s, st.c, st.q
  if now >= s + w then
    local k = math.floor((now - s) / w)
    if k == 1 then q = c else q = 0 end
    c = 0
    s = s + k * w
  end
end
local e = now - s
local weighted = q * (w - e)
local budget = limit * w
local allowed, never, retry = 0, 0, 0
if cost <= limit and weighted + (c + cost) * w <= budget then
  c = c + cost
  allowed = 1
elseif cost > limit then
  never = 1
elseif c + cost <= limit then
  -- Fits in this window once enough of the previous one has slid out.
  local needed = w - math.floor((limit - c - cost) * w / q)
  retry = needed - e
else
  -- Needs the next window, where this one's count becomes the previous.
  local e2 = w - math.floor((limit - cost) * w / c)
  retry = s + w - now + e2
end
local used = weighted + c * w
local remaining = 0
if used < budget then remaining = math.floor((budget - used) / w) end
local x = now
if c > 0 then x = s + 2 * w elseif q > 0 then x = s + w end
save(x, s, c, q)
return answer(allowed, never, remaining, x - now, retry, s)
)lua";

constexpr const char* token_bucket_consume = R"lua(
local st = load()
local s, c = now, burst
if st then
  s, c = st.s, st.c
  -- Refill in whole tokens; the fraction of a token carries over in s.
  local n = math.floor((now - s) / t + eps)
  if n > 0 then
    c = math.min(burst, c + n)
    s = s + n * t
  end
end
if c >= burst then c, s = burst, now end
local allowed, never, retry = 0, 0, 0
if cost <= burst and c >= cost then
  c = c - cost
  allowed = 1
elseif cost > burst then
  never = 1
else
  retry = (cost - c) * t - (now - s)
end
local to_full = 0
if c < burst then to_full = (burst - c) * t - (now - s) end
save(now + to_full, s, c, 0)
return answer(allowed, never, c, to_full, retry, now)
)lua";

constexpr const char* gcra_consume = R"lua(
local st = load()
local tau = t * burst
local tat = now
if st then tat = math.max(st.s, now) end
local allowed, never, retry = 0, 0, 0
local s = tat
if cost > burst then
  never = 1
else
  local new_tat = tat + cost * t
  if new_tat - now <= tau + eps then
    s = new_tat
    allowed = 1
  else
    retry = new_tat - now - tau
  end
end
local used = s - now
save(s, s, 0, 0)
return answer(allowed, never, math.floor((tau - used) / t + eps), used, retry, math.floor(s))
)lua";

// The exact log is a sorted set: one member per unit counted, scored by
// its time, named by a sequence number that never repeats; and one head
// member '#<policy tag>' whose negative score holds that sequence.
constexpr const char* log_prelude = R"lua(
local kind = redis.call('TYPE', key).ok
if kind ~= 'none' and kind ~= 'zset' then redis.call('DEL', key) end
local seq, head = 0, false
local h = redis.call('ZRANGEBYSCORE', key, '-inf', '(0', 'WITHSCORES', 'LIMIT', 0, 1)
if h[1] then
  if h[1] == '#' .. tag then
    seq, head = -tonumber(h[2]), true
  else
    redis.call('DEL', key)
  end
end
-- Units counted at u count during [u, u + w).
redis.call('ZREMRANGEBYSCORE', key, 0, num(now - w))
local off = 0
if head then off = 1 end
local n = redis.call('ZCARD', key) - off

-- Writes the head and the TTL (until the newest unit leaves), or deletes
-- the key when nothing is counted.
local function finish(count)
  if count == 0 then
    redis.call('DEL', key)
    return 0
  end
  redis.call('ZADD', key, num(-seq), '#' .. tag)
  local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  local x = tonumber(newest[2]) + w
  redis.call('PEXPIRE', key, num(math.ceil((x - now) / 1000) + 1))
  return x - now
end
)lua";

constexpr const char* sliding_log_consume = R"lua(
local allowed, never, retry = 0, 0, 0
if cost <= limit and n + cost <= limit then
  local args = {}
  for i = 1, cost do
    seq = seq + 1
    args[#args + 1] = num(now)
    args[#args + 1] = string.format('%.0f', seq)
    if #args >= 1000 or i == cost then
      redis.call('ZADD', key, unpack(args))
      args = {}
    end
  end
  n = n + cost
  allowed = 1
elseif cost > limit then
  never = 1
else
  -- The (n + cost - limit)-th oldest unit must leave first.
  local k = n + cost - limit
  local e = redis.call('ZRANGE', key, off + k - 1, off + k - 1, 'WITHSCORES')
  retry = tonumber(e[2]) + w - now
end
local reset = finish(n)
return answer(allowed, never, limit - n, reset, retry, now)
)lua";

constexpr const char* sliding_log_refund = R"lua(
local stamp = tonumber(ARGV[8])
if not head or stamp + w <= now then return 0 end
local taken = redis.call('ZRANGEBYSCORE', key, ARGV[8], ARGV[8], 'LIMIT', 0, cost)
if #taken == 0 then return 0 end
redis.call('ZREM', key, unpack(taken))
finish(n - #taken)
return 1
)lua";

// Refunds of the window algorithms: only into the window the units were
// taken from (its start is the stamp), only while it lasts, never below 0.
constexpr const char* window_refund = R"lua(
local stamp = tonumber(ARGV[8])
local st = load()
if not st or st.s ~= stamp or now >= st.s + w then return 0 end
redis.call('HSET', key, 'c', num(st.c - math.min(cost, st.c)))
return 1
)lua";

constexpr const char* token_bucket_refund = R"lua(
-- Only the part of the cost not yet earned back by refilling since it was
-- taken (at the stamp); the rest the bucket has already regained.
local stamp = tonumber(ARGV[8])
local st = load()
if not st then return 0 end
local earned = math.max(0, math.ceil((now - stamp) / t - eps))
local back = math.min(cost, burst)
if back <= earned then return 0 end
local s, c = st.s, st.c
local n = math.floor((now - s) / t + eps)
if n > 0 then
  c = math.min(burst, c + n)
  s = s + n * t
end
c = math.min(burst, c + back - earned)
if c >= burst then s = now end
local to_full = 0
if c < burst then to_full = (burst - c) * t - (now - s) end
save(now + to_full, s, c, 0)
return 1
)lua";

constexpr const char* gcra_refund = R"lua(
-- The consume moved the arrival time to the stamp; what of it lies in the
-- past has been earned back already and is not refunded.
local stamp = tonumber(ARGV[8])
local st = load()
if not st or stamp <= now then return 0 end
local outstanding = math.floor((stamp - now) / t + eps)
local back = math.min(cost, burst, outstanding)
local s = math.max(now, st.s - back * t)
save(s, s, 0, 0)
return 1
)lua";

std::string join(const char* a, const char* b, const char* c = "") {
  return std::string(a) + b + c;
}

}  // namespace

const script& consume_script(rate_algorithm a) {
  static const script fixed{join(prelude, fixed_window_consume)};
  static const script log{join(prelude, log_prelude, sliding_log_consume)};
  static const script counter{join(prelude, sliding_counter_consume)};
  static const script bucket{join(prelude, token_bucket_consume)};
  static const script gcra{join(prelude, gcra_consume)};
  switch (a) {
    case rate_algorithm::fixed_window:
      return fixed;
    case rate_algorithm::sliding_window_log:
      return log;
    case rate_algorithm::sliding_window_counter:
      return counter;
    case rate_algorithm::token_bucket:
      return bucket;
    case rate_algorithm::gcra:
      return gcra;
  }
  return fixed;
}

const script& refund_script(rate_algorithm a) {
  static const script window{join(prelude, window_refund)};
  static const script log{join(prelude, log_prelude, sliding_log_refund)};
  static const script bucket{join(prelude, token_bucket_refund)};
  static const script gcra{join(prelude, gcra_refund)};
  switch (a) {
    case rate_algorithm::fixed_window:
    case rate_algorithm::sliding_window_counter:
      return window;
    case rate_algorithm::sliding_window_log:
      return log;
    case rate_algorithm::token_bucket:
      return bucket;
    case rate_algorithm::gcra:
      return gcra;
  }
  return window;
}

namespace {

std::string decimal(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

// The policy as the scripts read it. A key last used under a different
// policy (another algorithm, limit, window or burst) starts afresh.
std::vector<std::string> script_args(const rate_policy& p, std::uint64_t cost,
                                     const clock* decision_clock) {
  std::vector<std::string> a;
  a.reserve(8);
  if (decision_clock != nullptr)
    a.push_back(std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                   decision_clock->now().time_since_epoch())
                                   .count()));
  else
    a.emplace_back();  // the script reads Redis's clock
  a.push_back(std::to_string(cost));
  a.push_back(std::to_string(p.limit()));
  a.push_back(decimal(static_cast<double>(p.window().count()) / 1000.0));
  a.push_back(std::to_string(p.burst()));
  a.push_back(decimal(static_cast<double>(p.emission_interval().count()) / 1000.0));
  a.push_back(std::string(to_string(p.algorithm())) + "/" + std::to_string(p.limit()) + "/" +
              std::to_string(p.window().count()) + "/" + std::to_string(p.burst()));
  return a;
}

std::vector<std::string> consume_script_args(const rate_policy& policy, std::uint64_t cost) {
  return script_args(policy, cost, nullptr);
}

const std::string& consume_script_source(rate_algorithm a) {
  return consume_script(a).source;
}

}  // namespace portcullis::redis::detail
