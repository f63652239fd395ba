#include "portcullis/detail/siphash.hpp"

#include <openssl/rand.h>

#include <bit>
#include <cstring>
#include <stdexcept>

namespace portcullis::detail {
namespace {

std::uint64_t load_le(const char* p, std::size_t n) noexcept {
  // x86 and every platform we build for is little-endian; memcpy keeps the
  // load free of alignment assumptions.
  static_assert(std::endian::native == std::endian::little);
  std::uint64_t v = 0;
  if (n != 0) std::memcpy(&v, p, n);  // p may be null when n is 0
  return v;
}

// The last n - whole bytes of p[0, n) (fewer than 8) as a little-endian
// word. With 8 bytes or more of data, the 8 bytes ending where the data
// ends hold them in their top bytes: one load and a shift take the place
// of a copy of variable length (a call to memcpy, on every hash). Only
// data shorter than a word is copied.
std::uint64_t tail_le(const char* p, std::size_t n, std::size_t whole) noexcept {
  const std::size_t r = n - whole;
  if (r == 0) return 0;
  if (n >= 8) return load_le(p + n - 8, 8) >> (64 - 8 * r);
  return load_le(p, r);
}

struct sip_state {
  std::uint64_t v0, v1, v2, v3;

  void round() noexcept {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }
  template <int Rounds>
  void rounds() noexcept {
    for (int i = 0; i < Rounds; ++i) round();
  }
  std::uint64_t fold() const noexcept { return v0 ^ v1 ^ v2 ^ v3; }
};

template <int C, int D>
hash128 siphash(const sip_key& key, std::string_view data) noexcept {
  // The initial constants spell "somepseudorandomlygeneratedbytes"; 0xee
  // in v1 selects the 128-bit output.
  sip_state s{key.k0 ^ 0x736f6d6570736575, key.k1 ^ 0x646f72616e646f6d ^ 0xee,
              key.k0 ^ 0x6c7967656e657261, key.k1 ^ 0x7465646279746573};
  const char* p = data.data();
  const std::size_t n = data.size();
  const std::size_t whole = n & ~std::size_t{7};
  for (std::size_t i = 0; i < whole; i += 8) {
    const std::uint64_t m = load_le(p + i, 8);
    s.v3 ^= m;
    s.rounds<C>();
    s.v0 ^= m;
  }
  // The last word: the remaining bytes, and the length's low byte on top.
  const std::uint64_t last = tail_le(p, n, whole) | std::uint64_t{n & 0xff} << 56;
  s.v3 ^= last;
  s.rounds<C>();
  s.v0 ^= last;

  hash128 h;
  s.v2 ^= 0xee;
  s.rounds<D>();
  h.lo = s.fold();
  s.v1 ^= 0xdd;
  s.rounds<D>();
  h.hi = s.fold();
  return h;
}

}  // namespace

sip_key sip_key::random() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    throw std::runtime_error("siphash: OpenSSL's RAND_bytes gave no key");
  sip_key k;
  std::memcpy(&k.k0, bytes, 8);
  std::memcpy(&k.k1, bytes + 8, 8);
  return k;
}

hash128 siphash_1_3(const sip_key& key, std::string_view data) noexcept {
  return siphash<1, 3>(key, data);
}

hash128 siphash_2_4(const sip_key& key, std::string_view data) noexcept {
  return siphash<2, 4>(key, data);
}

}  // namespace portcullis::detail
