#include "portcullis/api_key_store.hpp"

#include "portcullis/errc.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <stdexcept>

namespace portcullis {

// -- The interface's listener registry -----------------------------------------

api_key_store::~api_key_store() = default;

std::uint64_t api_key_store::subscribe(revocation_listener listener) {
  std::lock_guard lock(listeners_mutex_);
  const auto token = next_token_++;
  listeners_.emplace(token, std::move(listener));
  return token;
}

void api_key_store::unsubscribe(std::uint64_t token) {
  // Taking the mutex waits for a publish_revocation() in flight, so the
  // listener is not running once this returns.
  std::lock_guard lock(listeners_mutex_);
  listeners_.erase(token);
}

void api_key_store::publish_revocation(const api_key_digest* hash) {
  std::lock_guard lock(listeners_mutex_);
  for (auto& [token, fn] : listeners_) fn(hash);
}

// -- memory_api_key_store -------------------------------------------------------

std::size_t memory_api_key_store::digest_hash::operator()(const api_key_digest& d) const noexcept {
  // A digest is uniformly random already: its first bytes are a fine hash.
  std::size_t h;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

memory_api_key_store::memory_api_key_store(memory_api_key_store_options options)
    : options_(options) {
  if (options_.max_keys == 0)
    throw config_error("memory_api_key_store: max_keys is 0; allow at least one key");
}

asio::awaitable<void> memory_api_key_store::create(const api_key_record& record) {
  std::lock_guard lock(mutex_);
  if (by_id_.size() >= options_.max_keys)
    throw std::system_error(make_error_code(errc::store_unavailable),
                            "memory_api_key_store: max_keys reached");
  if (by_id_.count(record.id) || by_hash_.count(record.hash))
    throw std::system_error(make_error_code(errc::store_protocol),
                            "memory_api_key_store: duplicate key id or digest");
  by_hash_.emplace(record.hash, record.id);
  by_id_.emplace(record.id, record);
  co_return;
}

asio::awaitable<std::optional<api_key_record>> memory_api_key_store::find_by_hash(
    const api_key_digest& hash) {
  std::optional<api_key_record> out;
  {
    std::lock_guard lock(mutex_);
    if (auto it = by_hash_.find(hash); it != by_hash_.end()) out = by_id_.at(it->second);
  }
  co_return out;
}

asio::awaitable<void> memory_api_key_store::touch(std::span<const api_key_use> uses) {
  {
    std::lock_guard lock(mutex_);
    for (const auto& u : uses) {
      auto it = by_id_.find(u.id);
      if (it == by_id_.end()) continue;
      auto& r = it->second;
      r.uses += u.count;
      if (!r.last_used || *r.last_used < u.last_used) r.last_used = u.last_used;
    }
  }
  co_return;
}

asio::awaitable<bool> memory_api_key_store::consume_use(std::string_view id, wall_time now) {
  bool ok = false;
  {
    std::lock_guard lock(mutex_);
    auto it = by_id_.find(std::string(id));
    if (it != by_id_.end() && !it->second.revoked) {
      auto& r = it->second;
      if (!r.max_uses || r.uses < *r.max_uses) {
        ++r.uses;
        if (!r.last_used || *r.last_used < now) r.last_used = now;
        ok = true;
      }
    }
  }
  co_return ok;
}

asio::awaitable<bool> memory_api_key_store::revoke(std::string_view owner, std::string_view id,
                                                   wall_time now) {
  std::optional<api_key_digest> revoked;
  {
    std::lock_guard lock(mutex_);
    auto it = by_id_.find(std::string(id));
    if (it != by_id_.end() && it->second.owner == owner && !it->second.revoked) {
      it->second.revoked = now;
      revoked = it->second.hash;
    }
  }
  // Outside the lock: listeners may call back into the store.
  if (revoked) publish_revocation(&*revoked);
  co_return revoked.has_value();
}

asio::awaitable<std::vector<api_key_record>> memory_api_key_store::list(std::string_view owner,
                                                                        std::size_t limit) {
  std::vector<api_key_record> out;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, r] : by_id_)
      if (r.owner == owner) out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created != b.created ? a.created > b.created : a.id > b.id;
  });
  if (out.size() > limit) out.resize(limit);
  co_return out;
}

std::size_t memory_api_key_store::size() const {
  std::lock_guard lock(mutex_);
  return by_id_.size();
}

// -- Issuing ---------------------------------------------------------------------

namespace detail {

bool is_clean_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned c = *p;
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7F) return false;
      ++p;
      continue;
    }
    std::size_t n;
    unsigned cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= n) return false;
    for (std::size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (p[i] & 0x3F);
    }
    static constexpr unsigned min_for[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_for[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp >= 0x80 && cp <= 0x9F) return false;  // C1 controls
    p += n + 1;
  }
  return true;
}

}  // namespace detail

namespace {

bool token_chars(std::string_view s, std::string_view extra) noexcept {
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string check_new_api_key(const new_api_key& spec, wall_time now) {
  if (spec.owner.empty() || spec.owner.size() > 256 || !detail::is_clean_utf8(spec.owner))
    return "owner must be 1 to 256 bytes of UTF-8 without control characters";
  if (spec.name.size() > 200 || !detail::is_clean_utf8(spec.name))
    return "name must be at most 200 bytes of UTF-8 without control characters";
  if (spec.tier.empty() || spec.tier.size() > 32 || !token_chars(spec.tier, "_-"))
    return "tier must be 1 to 32 characters of a-z, 0-9, '_' and '-'";
  if (spec.scopes.size() > 32) return "at most 32 scopes are allowed";
  std::set<std::string_view> seen;
  for (const auto& s : spec.scopes) {
    if (s.empty() || s.size() > 64 || !token_chars(s, "_:.-"))
      return "each scope must be 1 to 64 characters of a-z, 0-9, '_', ':', '.' and '-'";
    if (!seen.insert(s).second) return "scopes must not repeat";
  }
  if (spec.expires && *spec.expires <= now) return "expires must lie in the future";
  if (spec.max_uses && *spec.max_uses == 0) return "max_uses must be at least 1";
  return {};
}

issued_api_key make_api_key(const new_api_key& spec, const api_key_format& format,
                            const api_key_hasher& hasher, wall_time now) {
  if (auto problem = check_new_api_key(spec, now); !problem.empty())
    throw std::invalid_argument("make_api_key: " + problem);
  using std::chrono::floor;
  using std::chrono::microseconds;

  issued_api_key out;
  out.key = generate_api_key(format);
  auto& r = out.record;
  r.id = "key_" + detail::random_base62(16);
  r.owner = spec.owner;
  r.name = spec.name;
  r.display = api_key_display(out.key);
  r.hash = hasher.digest(out.key);
  r.hash_scheme = hasher.scheme_name(0);
  r.tier = spec.tier;
  r.scopes = spec.scopes;
  r.created = floor<microseconds>(now);
  if (spec.expires) r.expires = floor<microseconds>(*spec.expires);
  r.max_uses = spec.max_uses;
  return out;
}

}  // namespace portcullis
