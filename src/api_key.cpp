// The low-level SHA-256 context is deprecated in OpenSSL 3 in favour of
// EVP, but EVP allocates per call; a keyed HMAC state copied by value is
// what makes a cached verification cost well under a microsecond.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "portcullis/api_key.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/errc.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>
#include <set>
#include <stdexcept>

namespace portcullis {
namespace {

constexpr std::string_view base62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr std::size_t checksum_chars = 6;

bool is_base62(char c) noexcept {
  return detail::is_ascii_alnum(c);
}

// Six base62 digits of a CRC-32, most significant first (62^6 > 2^32).
std::array<char, checksum_chars> encode_checksum(std::uint32_t crc) noexcept {
  std::array<char, checksum_chars> out{};
  std::uint64_t v = crc;
  for (std::size_t i = checksum_chars; i-- > 0;) {
    out[i] = base62[v % 62];
    v /= 62;
  }
  return out;
}

bool valid_prefix(std::string_view p) noexcept {
  if (p.size() < 2 || p.size() > 32 || p.back() != '_') return false;
  for (char c : p)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

bool valid_pepper_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 16) return false;
  for (char c : id)
    if (!is_base62(c) && c != '_' && c != '-') return false;
  return true;
}

}  // namespace

namespace detail {

std::uint32_t crc32(std::string_view data) noexcept {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char ch : data) crc = table[(crc ^ ch) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::string random_base62(std::size_t n) {
  // Rejection sampling: bytes of 248 and above are dropped so that each of
  // the 62 characters is equally likely (248 = 4 * 62).
  std::string out;
  out.reserve(n);
  unsigned char buf[64];
  while (out.size() < n) {
    if (RAND_bytes(buf, sizeof buf) != 1)
      throw std::runtime_error("portcullis: RAND_bytes failed; no key was made");
    for (unsigned char b : buf) {
      if (b >= 248) continue;
      out.push_back(base62[b % 62]);
      if (out.size() == n) break;
    }
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return out;
}

}  // namespace detail

void api_key_format::check() const {
  if (!valid_prefix(prefix))
    throw config_error("api_key_format: prefix \"" + prefix +
                       "\" is invalid; use 2..32 characters of [a-z0-9_] ending in '_', "
                       "such as \"sk_live_\"");
  if (random_chars < 33 || random_chars > 128)
    throw config_error("api_key_format: random_chars " + std::to_string(random_chars) +
                       " is out of range; use 33..128 (33 base62 characters carry 192 bits)");
}

std::string generate_api_key(const api_key_format& format) {
  format.check();
  std::string key = format.prefix;
  key += detail::random_base62(format.random_chars);
  auto check = encode_checksum(detail::crc32(key));
  key.append(check.data(), check.size());
  return key;
}

bool is_well_formed_api_key(std::string_view text, const api_key_format& format) noexcept {
  if (text.size() != format.key_length()) return false;

  // Every step runs whatever the earlier ones found, so that the time
  // depends on the length alone.
  unsigned bad = 0;
  const std::size_t p = format.prefix.size();
  for (std::size_t i = 0; i < p; ++i) bad |= static_cast<unsigned>(text[i] != format.prefix[i]);
  for (std::size_t i = p; i < text.size(); ++i) bad |= static_cast<unsigned>(!is_base62(text[i]));
  const std::size_t body = text.size() - checksum_chars;
  auto expected = encode_checksum(detail::crc32(text.substr(0, body)));
  for (std::size_t i = 0; i < checksum_chars; ++i)
    bad |= static_cast<unsigned>(text[body + i] != expected[i]);
  return bad == 0;
}

std::string api_key_display(std::string_view key) {
  // The prefix is everything up to and including the last '_' among the
  // first 33 characters: prefixes may contain '_' themselves.
  const auto head = key.substr(0, 33).rfind('_');
  if (head == std::string_view::npos || key.size() < head + 1 + 4 + 8) return "...";
  std::string out(key.substr(0, head + 1));
  out += "...";
  out += key.substr(key.size() - 4);
  return out;
}

std::string to_hex(const api_key_digest& d) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (auto b : d) {
    out.push_back(hex[b >> 4]);
    out.push_back(hex[b & 15]);
  }
  return out;
}

bool from_hex(std::string_view hex, api_key_digest& out) noexcept {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

bool digests_equal(const api_key_digest& a, const api_key_digest& b) noexcept {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace detail {
struct hmac_states {
  struct keyed {
    SHA256_CTX inner;
    SHA256_CTX outer;
  };
  std::vector<keyed> states;
};
}  // namespace detail

api_key_hasher::api_key_hasher() = default;

api_key_hasher::api_key_hasher(std::vector<api_key_pepper> peppers) : peppers_(std::move(peppers)) {
  if (peppers_.empty())
    throw config_error(
        "api_key_hasher: no pepper given; pass at least one, or use the "
        "default constructor for plain SHA-256");
  std::set<std::string> seen;
  for (const auto& p : peppers_) {
    if (!valid_pepper_id(p.id))
      throw config_error("api_key_hasher: pepper id \"" + p.id +
                         "\" is invalid; use 1..16 characters of [A-Za-z0-9_-]");
    if (!seen.insert(p.id).second)
      throw config_error("api_key_hasher: pepper id \"" + p.id +
                         "\" appears twice; give each secret its own id");
    if (p.secret.size() < 32)
      throw config_error("api_key_hasher: the secret of pepper \"" + p.id +
                         "\" is shorter than 32 bytes; generate one with "
                         "`openssl rand -base64 48`");
  }

  // RFC 2104: the key, hashed first when longer than a block, padded with
  // ipad and opad; both padded blocks are absorbed here once.
  auto states = std::make_shared<detail::hmac_states>();
  for (const auto& p : peppers_) {
    unsigned char block[SHA256_CBLOCK] = {};
    if (p.secret.size() > SHA256_CBLOCK)
      SHA256(reinterpret_cast<const unsigned char*>(p.secret.data()), p.secret.size(), block);
    else
      std::memcpy(block, p.secret.data(), p.secret.size());
    unsigned char ipad[SHA256_CBLOCK], opad[SHA256_CBLOCK];
    for (int i = 0; i < SHA256_CBLOCK; ++i) {
      ipad[i] = block[i] ^ 0x36;
      opad[i] = block[i] ^ 0x5c;
    }
    detail::hmac_states::keyed k;
    SHA256_Init(&k.inner);
    SHA256_Update(&k.inner, ipad, sizeof ipad);
    SHA256_Init(&k.outer);
    SHA256_Update(&k.outer, opad, sizeof opad);
    states->states.push_back(k);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(ipad, sizeof ipad);
    OPENSSL_cleanse(opad, sizeof opad);
  }
  states_ = std::move(states);
}

std::string api_key_hasher::scheme_name(std::size_t i) const {
  if (peppers_.empty()) return "sha256";
  return "hmac-sha256:" + peppers_.at(i).id;
}

api_key_digest api_key_hasher::digest(std::string_view key, std::size_t i) const {
  api_key_digest out{};
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  if (peppers_.empty()) {
    SHA256(data, key.size(), out.data());
    return out;
  }
  const auto& k = states_->states.at(i);
  SHA256_CTX ctx = k.inner;
  SHA256_Update(&ctx, data, key.size());
  unsigned char inner[SHA256_DIGEST_LENGTH];
  SHA256_Final(inner, &ctx);
  ctx = k.outer;
  SHA256_Update(&ctx, inner, sizeof inner);
  SHA256_Final(out.data(), &ctx);
  return out;
}

}  // namespace portcullis
