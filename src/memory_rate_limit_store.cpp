#include "portcullis/memory_rate_limit_store.hpp"

#include "portcullis/detail/rate_state.hpp"
#include "portcullis/errc.hpp"

#include <atomic>
#include <bit>
#include <functional>
#include <thread>
#include <unordered_map>

namespace portcullis {
namespace {

// A test-and-test-and-set lock: the critical sections here are a few tens
// of nanoseconds, shorter than a futex round trip. Yields after a short spin
// so that an oversubscribed machine still makes progress.
class spin_lock {
 public:
  void lock() noexcept {
    for (int spins = 0;; ++spins) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins > 64) std::this_thread::yield();
      }
    }
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

// A key with its hash, computed once per call: it picks the shard and is the
// map's hash too, so a decision hashes its key once, not twice.
struct hashed_key {
  std::string_view text;
  std::size_t hash;
};

struct key_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
  std::size_t operator()(const hashed_key& k) const noexcept { return k.hash; }
};

struct key_equal {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
  bool operator()(const hashed_key& a, std::string_view b) const noexcept { return a.text == b; }
  bool operator()(std::string_view a, const hashed_key& b) const noexcept { return a == b.text; }
};

struct node {
  detail::rate_state state;
  node* colder = nullptr;  // towards the least recently used end
  node* warmer = nullptr;
  const std::string* key = nullptr;
};

}  // namespace

struct memory_rate_limit_store::impl {
  struct alignas(64) shard {
    spin_lock lock;
    std::unordered_map<std::string, node, key_hash, key_equal> map;
    node* coldest = nullptr;
    node* warmest = nullptr;
    std::uint64_t evictions = 0;
    std::uint64_t expired = 0;

    void unlink(node* n) noexcept {
      (n->colder ? n->colder->warmer : coldest) = n->warmer;
      (n->warmer ? n->warmer->colder : warmest) = n->colder;
      n->colder = n->warmer = nullptr;
    }
    void push_warm(node* n) noexcept {
      n->colder = warmest;
      n->warmer = nullptr;
      (warmest ? warmest->warmer : coldest) = n;
      warmest = n;
    }
    void touch(node* n) noexcept {
      if (warmest == n) return;
      unlink(n);
      push_warm(n);
    }
    void erase(node* n) {
      unlink(n);
      map.erase(map.find(std::string_view(*n->key)));
    }
    // Unlinks n and takes its map node out whole, to be reused for another key.
    auto take(node* n) {
      unlink(n);
      return map.extract(map.find(std::string_view(*n->key)));
    }
  };

  impl(memory_store_options o, const clock& c) : options(o), clk(c) {
    std::size_t n = o.shards;
    if (n == 0) n = std::max<std::size_t>(16, 16 * std::thread::hardware_concurrency());
    // Small stores get fewer shards, so that the bound stays close to max_keys.
    n = std::min(std::bit_ceil(n), std::bit_floor(std::max<std::size_t>(1, o.max_keys / 64)));
    shards = std::make_unique<shard[]>(n);
    mask = n - 1;
    per_shard = (o.max_keys + n - 1) / n;
  }

  hashed_key hashed(std::string_view key) const noexcept { return {key, key_hash{}(key)}; }

  shard& shard_for(const hashed_key& key) noexcept {
    // The map takes the same hash modulo its bucket count, which uses the
    // low bits; take the shard from the high bits so the two do not correlate.
    return shards[(key.hash >> 40 ^ key.hash >> 20) & mask];
  }

  // Calls f(shard&) for every shard, each under its lock, and sums what it returns.
  template <class F>
  auto sum_over_shards(F f) const {
    decltype(f(shards[0])) total{};
    for (std::size_t i = 0; i <= mask; ++i) {
      std::lock_guard lock(shards[i].lock);
      total += f(shards[i]);
    }
    return total;
  }

  std::int64_t now() const noexcept { return clk.now().time_since_epoch().count(); }

  // Removes up to cleanup_per_call expired keys from the cold end, sparing
  // `keep` (the node the caller is about to use).
  void clean(shard& s, std::int64_t t, const node* keep) {
    for (std::size_t i = 0; i < options.cleanup_per_call && s.coldest; ++i) {
      node* n = s.coldest;
      if (n == keep || n->state.expires > t) break;
      s.erase(n);
      ++s.expired;
    }
  }

  // A new key's node. A shard at most half full just adds it: dead keys
  // there cost only memory, and a workload whose state expires between
  // visits (GCRA under its rate, say) keeps its keys instead of churning
  // them. Past half, each new key first drops up to cleanup_per_call
  // expired keys from the cold end, so memory shrinks back after a flood of
  // one-off clients. A full shard recycles its least recently used node for
  // the new key, without allocating. A decision on a key already held does
  // none of this.
  node* insert(shard& s, const hashed_key& k, std::int64_t t) {
    decltype(shard::map)::node_type spare;
    if (s.map.size() > per_shard / 2) clean(s, t, nullptr);
    if (s.map.size() >= per_shard && s.coldest) {
      spare = s.take(s.coldest);
      ++s.evictions;
    }
    node* n;
    if (spare) {
      spare.key().assign(k.text);
      spare.mapped() = node{};
      auto ins = s.map.insert(std::move(spare)).position;
      n = &ins->second;
      n->key = &ins->first;
    } else {
      auto [ins, ok] = s.map.try_emplace(std::string(k.text));
      n = &ins->second;
      n->key = &ins->first;
    }
    s.push_warm(n);
    return n;
  }

  memory_store_options options;
  const clock& clk;
  std::unique_ptr<shard[]> shards;
  std::size_t mask = 0;
  std::size_t per_shard = 0;
};

memory_rate_limit_store::memory_rate_limit_store(memory_store_options options, const clock& clk) {
  if (options.max_keys == 0)
    throw config_error("memory_rate_limit_store: max_keys must be at least 1");
  impl_ = std::make_unique<impl>(options, clk);
}

memory_rate_limit_store::~memory_rate_limit_store() = default;

rate_decision memory_rate_limit_store::consume_now(std::string_view key, const rate_policy& policy,
                                                   std::uint64_t cost) {
  const hashed_key k = impl_->hashed(key);
  auto& s = impl_->shard_for(k);
  std::lock_guard lock(s.lock);
  const std::int64_t t = impl_->now();

  node* n;
  if (auto it = s.map.find(k); it != s.map.end()) {
    n = &it->second;
    s.touch(n);
  } else {
    n = impl_->insert(s, k, t);
  }
  return detail::apply_consume(n->state, policy, cost, t);
}

void memory_rate_limit_store::refund_now(std::string_view key, const rate_policy& policy,
                                         std::uint64_t cost, const rate_decision& taken) {
  const hashed_key k = impl_->hashed(key);
  auto& s = impl_->shard_for(k);
  std::lock_guard lock(s.lock);
  if (auto it = s.map.find(k); it != s.map.end())
    detail::apply_refund(it->second.state, policy, cost, taken, impl_->now());
}

void memory_rate_limit_store::reset_now(std::string_view key) noexcept {
  const hashed_key k = impl_->hashed(key);
  auto& s = impl_->shard_for(k);
  std::lock_guard lock(s.lock);
  if (auto it = s.map.find(k); it != s.map.end()) s.erase(&it->second);
}

void memory_rate_limit_store::reset_all_now() noexcept {
  for (std::size_t i = 0; i <= impl_->mask; ++i) {
    auto& s = impl_->shards[i];
    std::lock_guard lock(s.lock);
    s.map.clear();
    s.coldest = s.warmest = nullptr;
  }
}

asio::awaitable<rate_decision> memory_rate_limit_store::consume(std::string_view key,
                                                                const rate_policy& policy,
                                                                std::uint64_t cost) {
  co_return consume_now(key, policy, cost);
}

asio::awaitable<void> memory_rate_limit_store::refund(std::string_view key,
                                                      const rate_policy& policy, std::uint64_t cost,
                                                      const rate_decision& taken) {
  refund_now(key, policy, cost, taken);
  co_return;
}

asio::awaitable<void> memory_rate_limit_store::reset(std::string_view key) {
  reset_now(key);
  co_return;
}

asio::awaitable<void> memory_rate_limit_store::reset_all() {
  reset_all_now();
  co_return;
}

std::size_t memory_rate_limit_store::size() const noexcept {
  return impl_->sum_over_shards([](const impl::shard& s) { return s.map.size(); });
}

std::uint64_t memory_rate_limit_store::evictions() const noexcept {
  return impl_->sum_over_shards([](const impl::shard& s) { return s.evictions; });
}

std::uint64_t memory_rate_limit_store::expired_removed() const noexcept {
  return impl_->sum_over_shards([](const impl::shard& s) { return s.expired; });
}

std::size_t memory_rate_limit_store::capacity() const noexcept {
  return impl_->per_shard * (impl_->mask + 1);
}

}  // namespace portcullis
