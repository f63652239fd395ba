// portcullis/api_key.hpp — API keys: their text, their checksum and their hash.
//
// A key is a readable prefix that names its kind and environment, random
// characters from OpenSSL's CSPRNG, and a checksum:
//
//     sk_live_3kQf8Zr0bWc1T4mXyA9uLp2VdE7sNh6GjK5oRiBq  Qx0aZ1
//     └prefix┘└──────── 40 random base62 characters ────────┘└check┘
//
// (written here with a space before the checksum; a real key has none.)
// 40 base62 characters carry 238 bits. The checksum (CRC-32 of everything
// before it, as six base62 characters) lets a mistyped or made-up key be
// refused without asking the database, and lets secret scanners recognise a
// leaked key with few false positives. It is not a secret and proves nothing.
//
//     portcullis::api_key_format fmt{.prefix = "sk_live_"};
//     std::string key = portcullis::generate_api_key(fmt);   // shown once
//     portcullis::api_key_hasher hasher{{{.id = "k1", .secret = pepper}}};
//     portcullis::api_key_digest d = hasher.digest(key);     // stored
//     portcullis::api_key_display(key);                      // "sk_live_...Qx0a"
//
// Keys are stored only as a digest. With a server secret (a "pepper") the
// digest is HMAC-SHA256(pepper, key): a copy of the table alone cannot
// confirm a leaked key, nor be searched for keys. Each pepper has an id so
// that it can be rotated: new keys use the first pepper, and keys hashed with
// an older one keep working while it is listed. Where no secret can be kept
// apart from the database, plain SHA-256 is the fallback: a key has 238
// random bits, so the digest cannot be inverted, but whoever holds the table
// can test a key they found elsewhere against it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

/// The shape of the keys a deployment issues and accepts.
struct api_key_format {
  /// Starts every key, and names its kind and environment. 2..32 characters
  /// of [a-z0-9_], ending in '_' ("sk_live_", "sk_test_", "pk_live_").
  std::string prefix = "sk_live_";
  /// Random base62 characters after the prefix. 33..128; the default 40
  /// carries 238 bits (33 would be the minimum of 192).
  std::size_t random_chars = 40;

  /// Throws config_error naming the option when the format is invalid.
  void check() const;
  /// The length of every key of this format.
  std::size_t key_length() const noexcept { return prefix.size() + random_chars + 6; }
};

/// Makes a new key from OpenSSL's RAND_bytes. Throws config_error for an
/// invalid format and std::runtime_error if the CSPRNG fails (it then gives
/// no key at all rather than a weak one).
std::string generate_api_key(const api_key_format& format);

/// True when `text` is a key of `format`: its prefix, its length, base62
/// after the prefix and a matching checksum. Costs no database lookup; the
/// time it takes depends only on the length of `text`.
bool is_well_formed_api_key(std::string_view text, const api_key_format& format) noexcept;

/// What a key may be shown as after its creation: the prefix, "..." and its
/// last four characters ("sk_live_...Qx0a"). For a text too short to be a
/// key, "..." alone.
std::string api_key_display(std::string_view key);

/// A key's stored digest (SHA-256 sized).
using api_key_digest = std::array<std::uint8_t, 32>;

/// Lower-case hex of a digest (64 characters).
std::string to_hex(const api_key_digest& d);

/// Parses 64 hex digits (either case) into `out`; false for anything else.
bool from_hex(std::string_view hex, api_key_digest& out) noexcept;

/// Compares two digests in constant time.
bool digests_equal(const api_key_digest& a, const api_key_digest& b) noexcept;

/// A server secret mixed into the digest of every key.
struct api_key_pepper {
  /// A short name for this secret, stored with each record so that peppers
  /// can be rotated: 1..16 characters of [A-Za-z0-9_-].
  std::string id;
  /// At least 32 bytes, from a CSPRNG, kept outside the database (an
  /// environment variable, a secrets manager).
  std::string secret;
};

namespace detail {
struct hmac_states;
}

/// Turns key texts into stored digests. Immutable after construction;
/// thread-safe; cheap to copy (the secrets' states are shared).
class api_key_hasher {
 public:
  /// Plain SHA-256, without a secret (see the header's note on the
  /// trade-off). Its scheme name is "sha256".
  api_key_hasher();

  /// HMAC-SHA256 with `peppers`; the first digests new keys, the others
  /// verify keys made before a rotation. Scheme names are
  /// "hmac-sha256:<id>". Throws config_error when `peppers` is empty, an id
  /// is invalid or repeated, or a secret is shorter than 32 bytes.
  explicit api_key_hasher(std::vector<api_key_pepper> peppers);

  /// How many schemes this hasher verifies with (1 for SHA-256, else the
  /// number of peppers). Scheme 0 is the one new keys get.
  std::size_t schemes() const noexcept { return peppers_.empty() ? 1 : peppers_.size(); }

  /// The name of scheme `i` ("sha256", "hmac-sha256:k1"), stored with a
  /// record. `i` must be below schemes().
  std::string scheme_name(std::size_t i = 0) const;

  /// The digest of `key` under scheme `i` (0: the current one).
  api_key_digest digest(std::string_view key, std::size_t i = 0) const;

 private:
  std::vector<api_key_pepper> peppers_;
  // HMAC's inner and outer states, keyed once per pepper, so that a digest
  // costs three SHA-256 blocks and no allocation.
  std::shared_ptr<const detail::hmac_states> states_;
};

namespace detail {
/// CRC-32 (IEEE 802.3, the zlib one) of `data`.
std::uint32_t crc32(std::string_view data) noexcept;
/// `n` random characters of [A-Za-z0-9] from RAND_bytes, unbiased. Throws
/// std::runtime_error if the CSPRNG fails.
std::string random_base62(std::size_t n);
}  // namespace detail

}  // namespace portcullis
