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
  // Deliberately not noexcept: libstdc++ stores each node's hash only when
  // the hasher may throw (or is a std::hash of a string). Without a stored
  // hash, walking a bucket hashes the *next* key's text to find the
  // bucket's end: one more cache miss per lookup with a million keys.
  std::size_t operator()(std::string_view s) const {
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

// A key's state, on its shard's ring. The ring keeps insertion order; the
// shard's hand walks it to pick what to evict or drop (see impl::victim).
struct node {
  detail::rate_state state;
  node* prev = nullptr;
  node* next = nullptr;
  const std::string* key = nullptr;
  bool referenced = false;  // used since the hand last passed
};

// How far the hand walks looking for an unreferenced key before it takes
// the one it stands on: a bound on the work of one insert.
constexpr int max_hand_steps = 64;

}  // namespace

struct memory_rate_limit_store::impl {
  struct alignas(64) shard {
    spin_lock lock;
    std::unordered_map<std::string, node, key_hash, key_equal> map;
    node* hand = nullptr;  // nullptr when the shard is empty
    std::uint64_t evictions = 0;
    std::uint64_t expired = 0;

    void unlink(node* n) noexcept {
      if (n->next == n) {
        hand = nullptr;
      } else {
        n->prev->next = n->next;
        n->next->prev = n->prev;
        if (hand == n) hand = n->next;
      }
      n->prev = n->next = nullptr;
    }
    // A new node goes just behind the hand: the last the hand reaches.
    void link(node* n) noexcept {
      if (hand == nullptr) {
        n->prev = n->next = hand = n;
        return;
      }
      n->next = hand;
      n->prev = hand->prev;
      hand->prev->next = n;
      hand->prev = n;
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

  // The hand's next victim (CLOCK, the second-chance approximation of
  // least recently used): it walks the ring, clearing the mark of each key
  // used since its last pass, and stops at the first key not used since. A
  // decision thus only sets a flag in its own node, where exact LRU would
  // relink the node and write to both its neighbours (two cache misses per
  // decision with a million keys). After max_hand_steps marked keys the
  // hand takes the one it stands on, so an insert does bounded work.
  static node* victim(shard& s) noexcept {
    for (int i = 0; i < max_hand_steps && s.hand->referenced; ++i) {
      s.hand->referenced = false;
      s.hand = s.hand->next;
    }
    return s.hand;
  }

  // One step of the hand per call, up to 2 * cleanup_per_call: an expired
  // key under it is removed (at most cleanup_per_call of them), a live one
  // passed, its mark cleared as victim() would.
  void clean(shard& s, std::int64_t t) {
    std::size_t removed = 0;
    for (std::size_t i = 0; i < 2 * options.cleanup_per_call && s.hand; ++i) {
      node* n = s.hand;
      if (n->state.expires <= t) {
        s.erase(n);
        ++s.expired;
        if (++removed == options.cleanup_per_call) break;
      } else {
        n->referenced = false;
        s.hand = n->next;
      }
    }
  }

  // A new key's node. A shard at most half full just adds it: dead keys
  // there cost only memory, and a workload whose state expires between
  // visits (GCRA under its rate, say) keeps its keys instead of churning
  // them. Past half, each new key first lets the hand drop up to
  // cleanup_per_call expired keys, so memory shrinks back after a flood of
  // one-off clients. A full shard recycles the hand's victim for the new
  // key, without allocating. A decision on a key already held does none of
  // this.
  node* insert(shard& s, const hashed_key& k, std::int64_t t) {
    decltype(shard::map)::node_type spare;
    if (s.map.size() > per_shard / 2) clean(s, t);
    if (s.map.size() >= per_shard && s.hand) {
      spare = s.take(victim(s));
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
    s.link(n);
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
    n->referenced = true;
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
    s.hand = nullptr;
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
