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

struct key_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
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
    std::unordered_map<std::string, node, key_hash, std::equal_to<>> map;
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

  shard& shard_for(std::string_view key) noexcept {
    // The map hashes again with its own bucket count; take the shard from
    // the high bits so the two choices do not correlate.
    const std::size_t h = key_hash{}(key);
    return shards[(h >> 40 ^ h >> 20) & mask];
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
  auto& s = impl_->shard_for(key);
  std::lock_guard lock(s.lock);
  const std::int64_t t = impl_->now();

  node* n;
  if (auto it = s.map.find(key); it != s.map.end()) {
    n = &it->second;
    s.touch(n);
  } else {
    // Make room first: expired keys, then the least recently used one.
    impl_->clean(s, t, nullptr);
    if (s.map.size() >= impl_->per_shard && s.coldest) {
      s.erase(s.coldest);
      ++s.evictions;
    }
    auto [ins, ok] = s.map.try_emplace(std::string(key));
    n = &ins->second;
    n->key = &ins->first;
    s.push_warm(n);
  }
  rate_decision d = detail::apply_consume(n->state, policy, cost, t);
  impl_->clean(s, t, n);
  return d;
}

void memory_rate_limit_store::refund_now(std::string_view key, const rate_policy& policy,
                                         std::uint64_t cost, const rate_decision& taken) {
  auto& s = impl_->shard_for(key);
  std::lock_guard lock(s.lock);
  if (auto it = s.map.find(key); it != s.map.end())
    detail::apply_refund(it->second.state, policy, cost, taken, impl_->now());
}

void memory_rate_limit_store::reset_now(std::string_view key) noexcept {
  auto& s = impl_->shard_for(key);
  std::lock_guard lock(s.lock);
  if (auto it = s.map.find(key); it != s.map.end()) s.erase(&it->second);
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
  std::size_t total = 0;
  for (std::size_t i = 0; i <= impl_->mask; ++i) {
    auto& s = impl_->shards[i];
    std::lock_guard lock(s.lock);
    total += s.map.size();
  }
  return total;
}

std::uint64_t memory_rate_limit_store::evictions() const noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= impl_->mask; ++i) {
    auto& s = impl_->shards[i];
    std::lock_guard lock(s.lock);
    total += s.evictions;
  }
  return total;
}

std::uint64_t memory_rate_limit_store::expired_removed() const noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= impl_->mask; ++i) {
    auto& s = impl_->shards[i];
    std::lock_guard lock(s.lock);
    total += s.expired;
  }
  return total;
}

std::size_t memory_rate_limit_store::capacity() const noexcept {
  return impl_->per_shard * (impl_->mask + 1);
}

}  // namespace portcullis
