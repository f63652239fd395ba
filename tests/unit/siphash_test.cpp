#include "portcullis/detail/siphash.hpp"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <cstring>
#include <random>
#include <string>

namespace portcullis::detail {
namespace {

// The same function computed by OpenSSL's SIPHASH MAC (16-byte output, the
// given round counts): an implementation written independently of ours.
hash128 openssl_siphash(const sip_key& key, std::string_view data, unsigned c, unsigned d) {
  unsigned char k[16];
  std::memcpy(k, &key.k0, 8);
  std::memcpy(k + 8, &key.k1, 8);
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  std::size_t size = 16;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                         OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_C_ROUNDS, &c),
                         OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_D_ROUNDS, &d),
                         OSSL_PARAM_construct_end()};
  unsigned char out[16];
  std::size_t out_len = 0;
  const bool ok =
      EVP_MAC_init(ctx, k, sizeof k, params) == 1 &&
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1 &&
      EVP_MAC_final(ctx, out, &out_len, sizeof out) == 1;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  EXPECT_TRUE(ok && out_len == 16) << "OpenSSL's SIPHASH failed";
  hash128 h;
  std::memcpy(&h.lo, out, 8);
  std::memcpy(&h.hi, out + 8, 8);
  return h;
}

TEST(siphash, the_papers_first_128_bit_vector) {
  // Key 00 01 .. 0f, empty message: the first entry of the reference
  // implementation's 128-bit SipHash-2-4 test vectors.
  const sip_key k{0x0706050403020100, 0x0f0e0d0c0b0a0908};
  const hash128 h = siphash_2_4(k, "");
  EXPECT_EQ(h.lo, 0xe6a825ba047f81a3u);
  EXPECT_EQ(h.hi, 0x930255c71472f66du);
}

TEST(siphash, agrees_with_openssl_on_every_length_and_random_keys) {
  std::mt19937_64 rng(42);
  std::string data;
  for (int len = 0; len <= 300; ++len) {
    const sip_key k{rng(), rng()};
    data.resize(static_cast<std::size_t>(len));
    for (auto& c : data) c = static_cast<char>(rng());
    EXPECT_EQ(siphash_1_3(k, data), openssl_siphash(k, data, 1, 3)) << "length " << len;
    EXPECT_EQ(siphash_2_4(k, data), openssl_siphash(k, data, 2, 4)) << "length " << len;
  }
}

TEST(siphash, random_keys_differ_and_change_the_hash) {
  const sip_key a = sip_key::random();
  const sip_key b = sip_key::random();
  EXPECT_FALSE(a.k0 == b.k0 && a.k1 == b.k1);
  EXPECT_NE(siphash_1_3(a, "ip:203.0.113.7"), siphash_1_3(b, "ip:203.0.113.7"));
}

}  // namespace
}  // namespace portcullis::detail
