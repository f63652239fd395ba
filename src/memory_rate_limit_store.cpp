#include "portcullis/memory_rate_limit_store.hpp"

#include "portcullis/detail/rate_state.hpp"
#include "portcullis/detail/siphash.hpp"
#include "portcullis/errc.hpp"

#include <sys/mman.h>

#include <atomic>
#include <bit>
#include <memory>
#include <mutex>
#include <new>
#include <thread>

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

// A key's identity: its 128-bit SipHash under the store's secret key, with
// the low bit of `lo` set (so that 0 can mark an empty slot) and the top bit
// of `hi` clear (a slot keeps its CLOCK mark there).
struct key_id {
  std::uint64_t lo;
  std::uint64_t hi;
};

constexpr std::uint64_t referenced_bit = std::uint64_t{1} << 63;

// One key in one cache line: its identity and its state. Nothing else is
// read for a decision on a key already held.
struct alignas(64) slot {
  std::uint64_t lo = 0;  // 0: empty
  std::uint64_t hi = 0;  // identity, and referenced_bit: used since the hand passed
  detail::rate_state state;

  bool empty() const noexcept { return lo == 0; }
  bool holds(const key_id& k) const noexcept {
    return lo == k.lo && (hi & ~referenced_bit) == k.hi;
  }
};
static_assert(sizeof(slot) == 64, "a slot is one cache line");

// Where a hash lands in a table of n slots: the high bits of lo x n (no
// power-of-two size needed, so a table can be sized to its shard's bound).
std::size_t home(std::uint64_t lo, std::size_t n) noexcept {
  __extension__ typedef unsigned __int128 u128;
  return static_cast<std::size_t>((static_cast<u128>(lo) * n) >> 64);
}

constexpr std::size_t huge_page = std::size_t{2} << 20;

// An array of n empty slots. Tables of 2 MiB or more are mapped afresh,
// aligned to a huge page and advised as such before first touch (Linux's
// transparent huge pages in "madvise" mode, Debian's default): with a
// million keys a decision then costs one cache miss instead of a cache miss
// plus a page walk, which on a virtual machine is itself several misses.
// (Memory from malloc would not do: glibc hands back pages already touched
// as small ones.) Smaller tables come from the heap.
// Bytes a table of n slots takes (the mapped ones in whole small pages).
std::size_t slot_bytes(std::size_t n) noexcept {
  const std::size_t bytes = n * sizeof(slot);
  return bytes < huge_page ? bytes : (bytes + 4095) & ~std::size_t{4095};
}

slot* allocate_slots(std::size_t n) {
  const std::size_t bytes = slot_bytes(n);
  void* p;
  if (bytes < huge_page) {
    p = ::operator new (bytes, std::align_val_t{alignof(slot)});
  } else {
    // Map one huge page more than needed and trim to an aligned start.
    const std::size_t mapped = bytes + huge_page;
    void* m = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(m);
    const std::uintptr_t aligned = (start + huge_page - 1) & ~(huge_page - 1);
    if (aligned > start) ::munmap(m, aligned - start);
    const std::size_t tail = start + mapped - (aligned + bytes);
    if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + bytes), tail);
    p = reinterpret_cast<void*>(aligned);
    ::madvise(p, bytes, MADV_HUGEPAGE);  // a hint; where THP is off, small pages
  }
  slot* slots = static_cast<slot*>(p);
  std::uninitialized_value_construct_n(slots, n);
  return slots;
}

void free_slots(slot* s, std::size_t n) noexcept {
  if (s == nullptr) return;
  std::destroy_n(s, n);
  const std::size_t bytes = slot_bytes(n);
  if (bytes < huge_page)
    ::operator delete (s, std::align_val_t{alignof(slot)});
  else
    ::munmap(s, bytes);
}

// How far the hand walks looking for an unmarked key before it takes the
// one it stands on: a bound on the work of one insert.
constexpr int max_hand_steps = 64;

// The smallest table a shard starts with, and the fill past which it doubles.
constexpr std::size_t min_table = 16;
constexpr std::size_t max_load_num = 3, max_load_den = 4;

}  // namespace

struct memory_rate_limit_store::impl {
  // One shard: an open-addressing table (linear probing, deletion by
  // backward shift, so no tombstones) under one lock.
  struct alignas(64) shard {
    spin_lock lock;
    slot* slots = nullptr;
    std::size_t size = 0;  // slots in the table
    std::size_t used = 0;  // keys held
    std::size_t hand = 0;  // CLOCK's position
    std::uint64_t evictions = 0;
    std::uint64_t expired = 0;

    ~shard() { free_slots(slots, size); }

    std::int64_t latest = 0;  // the latest time a decision here used

    std::size_t next(std::size_t i) const noexcept { return i + 1 == size ? 0 : i + 1; }

    // Time as this shard's decisions see it: `read` (taken before the lock),
    // never earlier than a decision already made here. Two threads may take
    // the lock in the other order than they read the clock; a key's state
    // then still sees time move forward (sliding_window_log relies on it).
    std::int64_t monotonic(std::int64_t read) noexcept {
      if (read > latest) latest = read;
      return latest;
    }

    slot* find(const key_id& k) noexcept {
      if (used == 0) return nullptr;
      for (std::size_t i = home(k.lo, size);; i = next(i)) {
        slot& s = slots[i];
        if (s.holds(k)) return &s;
        if (s.empty()) return nullptr;
      }
    }

    // Places k, known to be absent, in the table, which has room.
    slot& place(const key_id& k) noexcept {
      std::size_t i = home(k.lo, size);
      while (!slots[i].empty()) i = next(i);
      slot& s = slots[i];
      s.lo = k.lo;
      s.hi = k.hi;
      ++used;
      return s;
    }

    // Moves every key into a table of n slots (n > used).
    void resize(std::size_t n) {
      slot* old = slots;
      const std::size_t old_size = size;
      slots = allocate_slots(n);
      size = n;
      used = 0;
      for (std::size_t i = 0; i < old_size; ++i) {
        if (old[i].empty()) continue;
        slot& s = place({old[i].lo, old[i].hi & ~referenced_bit});
        s.hi = old[i].hi;
        s.state = std::move(old[i].state);
      }
      free_slots(old, old_size);
      hand = 0;
    }

    // Empties slot i. The keys after it in its probe run move back as far as
    // their home allows, so that every key stays reachable from its home
    // without a tombstone. The hand, if it stood at i, now stands on the key
    // that moved into i (or on an empty slot): nothing is skipped.
    void erase_at(std::size_t i) noexcept {
      for (std::size_t j = next(i);; j = next(j)) {
        if (slots[j].empty()) break;
        const std::size_t h = home(slots[j].lo, size);
        // j's key may fill the hole at i when its home is not in (i, j].
        const bool may_move = i <= j ? (h <= i || h > j) : (h <= i && h > j);
        if (!may_move) continue;
        slots[i].lo = slots[j].lo;
        slots[i].hi = slots[j].hi;
        slots[i].state = std::move(slots[j].state);
        i = j;
      }
      // The last hole: empty, and any state left in it (the erased key's,
      // or a moved-from one) reset, which frees a sliding log.
      slots[i].lo = slots[i].hi = 0;
      slots[i].state = {};
      --used;
    }

    // Moves the hand to the next occupied slot (the table holds a key).
    void settle_hand() noexcept {
      while (slots[hand].empty()) hand = next(hand);
    }
  };

  impl(memory_store_options o, const clock& c)
      : options(o), clk(c), secret(detail::sip_key::random()) {
    std::size_t n = o.shards;
    if (n == 0) n = std::max<std::size_t>(16, 16 * std::thread::hardware_concurrency());
    // Small stores get fewer shards, so that the bound stays close to max_keys.
    n = std::min(std::bit_ceil(n), std::bit_floor(std::max<std::size_t>(1, o.max_keys / 64)));
    shards = std::make_unique<shard[]>(n);
    mask = n - 1;
    per_shard = (o.max_keys + n - 1) / n;
    // The largest table a shard needs: its bound at three quarters full.
    max_table = std::max(min_table, per_shard * max_load_den / max_load_num + 1);
  }

  key_id id_of(std::string_view key) const noexcept {
    const detail::hash128 h = detail::siphash_1_3(secret, key);
    return {h.lo | 1, h.hi & ~referenced_bit};
  }

  // The shard comes from hi, the table position from lo: independent bits.
  shard& shard_for(const key_id& k) noexcept { return shards[k.hi & mask]; }

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
  // least recently used): it walks the table, clearing the mark of each key
  // used since its last pass, and stops at the first key not used since. A
  // decision thus only sets a bit in its own slot. After max_hand_steps
  // marked keys the hand takes the one it stands on, so an insert does
  // bounded work.
  static std::size_t victim(shard& s) noexcept {
    s.settle_hand();
    for (int i = 0; i < max_hand_steps && (s.slots[s.hand].hi & referenced_bit); ++i) {
      s.slots[s.hand].hi &= ~referenced_bit;
      s.hand = s.next(s.hand);
      s.settle_hand();
    }
    return s.hand;
  }

  // Up to 2 * cleanup_per_call keys under the hand: an expired one is
  // removed (at most cleanup_per_call of them), a live one passed with its
  // mark left alone: only the search for a victim spends a second chance.
  void clean(shard& s, std::int64_t t) noexcept {
    std::size_t removed = 0;
    for (std::size_t i = 0; i < 2 * options.cleanup_per_call && s.used > 0; ++i) {
      s.settle_hand();
      slot& at = s.slots[s.hand];
      if (at.state.expires <= t) {
        s.erase_at(s.hand);
        ++s.expired;
        if (++removed == options.cleanup_per_call) break;
      } else {
        s.hand = s.next(s.hand);
      }
    }
  }

  // A new key's slot. A shard at most half full just adds it: dead keys
  // there cost only memory, and a workload whose state expires between
  // visits (GCRA under its rate, say) keeps its keys instead of churning
  // them. Past half, each new key first lets the hand drop up to
  // cleanup_per_call expired keys, so the table has room for new clients
  // after a flood of one-off ones. A full shard evicts the hand's victim.
  // The table doubles (up to its largest size) when three quarters full.
  // A decision on a key already held does none of this.
  slot& insert(shard& s, const key_id& k, std::int64_t t) {
    if (s.used > per_shard / 2) clean(s, t);
    if (s.used >= per_shard) {
      s.erase_at(victim(s));
      ++s.evictions;
    }
    if ((s.used + 1) * max_load_den > s.size * max_load_num)
      s.resize(s.size == 0 ? min_table : std::min(max_table, 2 * s.size));
    return s.place(k);
  }

  memory_store_options options;
  const clock& clk;
  const detail::sip_key secret;
  std::unique_ptr<shard[]> shards;
  std::size_t mask = 0;
  std::size_t per_shard = 0;
  std::size_t max_table = 0;
};

memory_rate_limit_store::memory_rate_limit_store(memory_store_options options, const clock& clk) {
  if (options.max_keys == 0)
    throw config_error("memory_rate_limit_store: max_keys must be at least 1");
  impl_ = std::make_unique<impl>(options, clk);
}

memory_rate_limit_store::~memory_rate_limit_store() = default;

rate_decision memory_rate_limit_store::consume_now(std::string_view key, const rate_policy& policy,
                                                   std::uint64_t cost) {
  // The hash and the clock are read before the lock, which then covers
  // only the lookup and the algorithm: two threads on one hot key wait on
  // each other for that, not for a clock read as well.
  const key_id k = impl_->id_of(key);
  auto& s = impl_->shard_for(k);
  const std::int64_t read = impl_->now();
  std::lock_guard lock(s.lock);
  const std::int64_t t = s.monotonic(read);
  slot* n = s.find(k);
  if (n != nullptr)
    n->hi |= referenced_bit;
  else
    n = &impl_->insert(s, k, t);
  return detail::apply_consume(n->state, policy, cost, t);
}

void memory_rate_limit_store::refund_now(std::string_view key, const rate_policy& policy,
                                         std::uint64_t cost, const rate_decision& taken) {
  const key_id k = impl_->id_of(key);
  auto& s = impl_->shard_for(k);
  const std::int64_t read = impl_->now();
  std::lock_guard lock(s.lock);
  if (slot* n = s.find(k)) detail::apply_refund(n->state, policy, cost, taken, s.monotonic(read));
}

void memory_rate_limit_store::reset_now(std::string_view key) noexcept {
  const key_id k = impl_->id_of(key);
  auto& s = impl_->shard_for(k);
  std::lock_guard lock(s.lock);
  if (slot* n = s.find(k)) s.erase_at(static_cast<std::size_t>(n - s.slots));
}

void memory_rate_limit_store::reset_all_now() noexcept {
  for (std::size_t i = 0; i <= impl_->mask; ++i) {
    auto& s = impl_->shards[i];
    std::lock_guard lock(s.lock);
    free_slots(s.slots, s.size);
    s.slots = nullptr;
    s.size = s.used = s.hand = 0;
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
  return impl_->sum_over_shards([](const impl::shard& s) { return s.used; });
}

std::uint64_t memory_rate_limit_store::evictions() const noexcept {
  return impl_->sum_over_shards([](const impl::shard& s) { return s.evictions; });
}

std::uint64_t memory_rate_limit_store::expired_removed() const noexcept {
  return impl_->sum_over_shards([](const impl::shard& s) { return s.expired; });
}

std::size_t memory_rate_limit_store::table_bytes() const noexcept {
  return impl_->sum_over_shards([](const impl::shard& s) { return slot_bytes(s.size); });
}

std::size_t memory_rate_limit_store::capacity() const noexcept {
  return impl_->per_shard * (impl_->mask + 1);
}

}  // namespace portcullis
