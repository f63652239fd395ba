// portcullis/detail/siphash.hpp — SipHash with a 128-bit output, keyed.
//
// A keyed pseudo-random function (Aumasson and Bernstein, 2012): without the
// 16-byte key nobody can predict where a string lands, so a client who
// chooses keys (an e-mail address in a login body, a forwarded address)
// cannot pile them into one bucket of a hash table, nor aim two of them at
// the same 128-bit value. The memory rate-limit store identifies a key by
// this value alone.
//
//     detail::sip_key k = detail::sip_key::random();
//     detail::hash128 h = detail::siphash_1_3(k, "ip:203.0.113.7");
//
// siphash_1_3 is SipHash-1-3 (one compression round per 8-byte word, three
// finalization rounds: the variant Rust's HashMap uses against hash
// flooding); siphash_2_4 is the paper's conservative SipHash-2-4. Both match
// OpenSSL's SIPHASH MAC with a 16-byte output (tests/unit/siphash_test.cpp).
#pragma once

#include <cstdint>
#include <string_view>

namespace portcullis::detail {

struct hash128 {
  std::uint64_t lo = 0;  // the first 8 output bytes, little-endian
  std::uint64_t hi = 0;  // the last 8
  friend bool operator==(const hash128&, const hash128&) = default;
};

struct sip_key {
  std::uint64_t k0 = 0;  // key bytes 0..7, little-endian
  std::uint64_t k1 = 0;  // key bytes 8..15
  /// A key from OpenSSL's random generator. Throws std::runtime_error when
  /// it has no entropy to give (never on a normal Linux system).
  static sip_key random();
};

hash128 siphash_1_3(const sip_key& key, std::string_view data) noexcept;
hash128 siphash_2_4(const sip_key& key, std::string_view data) noexcept;

}  // namespace portcullis::detail
