#include "portcullis/api_key.hpp"

#include "portcullis/errc.hpp"

#include <gtest/gtest.h>

#include <set>

namespace portcullis {
namespace {

TEST(api_key, generated_keys_have_the_format_and_differ) {
  api_key_format fmt;
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto k = generate_api_key(fmt);
    ASSERT_EQ(k.size(), fmt.key_length());
    EXPECT_EQ(k.substr(0, 8), "sk_live_");
    EXPECT_TRUE(is_well_formed_api_key(k, fmt)) << k;
    EXPECT_TRUE(seen.insert(k).second);
  }
  api_key_format test_fmt{.prefix = "sk_test_", .random_chars = 33};
  auto t = generate_api_key(test_fmt);
  EXPECT_EQ(t.size(), 8u + 33u + 6u);
  EXPECT_TRUE(is_well_formed_api_key(t, test_fmt));
  // A test key is not a live key.
  EXPECT_FALSE(is_well_formed_api_key(t, api_key_format{.random_chars = 33}));
}

TEST(api_key, random_characters_are_spread_over_base62) {
  // 62 symbols over 62 000 draws: each should appear about 1000 times. A
  // biased sampler (plain byte % 62) would give the first 8 symbols ~1.2x.
  auto s = detail::random_base62(62'000);
  std::array<int, 128> n{};
  for (char c : s) ++n[static_cast<unsigned char>(c)];
  int symbols = 0;
  for (int c = 0; c < 128; ++c) {
    if (n[c] == 0) continue;
    ++symbols;
    EXPECT_GT(n[c], 850) << char(c);
    EXPECT_LT(n[c], 1150) << char(c);
  }
  EXPECT_EQ(symbols, 62);
}

TEST(api_key, checksum_refuses_typos_and_forgeries) {
  api_key_format fmt;
  auto k = generate_api_key(fmt);
  // Every single-character change is caught.
  for (std::size_t i = fmt.prefix.size(); i < k.size(); ++i) {
    auto t = k;
    t[i] = t[i] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(is_well_formed_api_key(t, fmt)) << i;
  }
  // Two swapped neighbours too.
  auto sw = k;
  std::swap(sw[10], sw[11]);
  if (sw != k) EXPECT_FALSE(is_well_formed_api_key(sw, fmt));
  EXPECT_FALSE(is_well_formed_api_key("", fmt));
  EXPECT_FALSE(is_well_formed_api_key(k.substr(1), fmt));
  EXPECT_FALSE(is_well_formed_api_key(k + "x", fmt));
  auto bad = k;
  bad[20] = '\0';
  EXPECT_FALSE(is_well_formed_api_key(bad, fmt));
  auto quote = k;
  quote[20] = '\'';
  EXPECT_FALSE(is_well_formed_api_key(quote, fmt));
}

TEST(api_key, crc32_matches_the_reference_value) {
  // The standard check value of CRC-32/ISO-HDLC.
  EXPECT_EQ(detail::crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(detail::crc32(""), 0u);
}

TEST(api_key, display_keeps_the_prefix_and_last_four) {
  api_key_format fmt{.prefix = "pk_test_env_"};
  auto k = generate_api_key(fmt);
  auto d = api_key_display(k);
  EXPECT_EQ(d, "pk_test_env_..." + k.substr(k.size() - 4));
  EXPECT_EQ(d.find(k.substr(fmt.prefix.size(), 8)), std::string::npos);
  EXPECT_EQ(api_key_display("short"), "...");
  EXPECT_EQ(api_key_display(""), "...");
}

TEST(api_key, bad_formats_throw_config_error_naming_the_option) {
  for (auto p : {"", "s", "sk_live", "SK_LIVE_", "sk-live_", "sk live_",
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_"}) {
    try {
      generate_api_key(api_key_format{.prefix = p});
      ADD_FAILURE() << p;
    } catch (const config_error& e) {
      EXPECT_NE(std::string(e.what()).find("prefix"), std::string::npos);
    }
  }
  EXPECT_THROW(generate_api_key(api_key_format{.random_chars = 32}), config_error);
  EXPECT_THROW(generate_api_key(api_key_format{.random_chars = 129}), config_error);
}

TEST(api_key, sha256_digest_is_the_plain_hash) {
  api_key_hasher h;
  EXPECT_EQ(h.schemes(), 1u);
  EXPECT_EQ(h.scheme_name(), "sha256");
  EXPECT_EQ(to_hex(h.digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(api_key, hmac_digest_matches_an_independent_hmac_and_rotates) {
  std::string s1(32, 'a'), s2(40, 'b');
  api_key_hasher h{{{.id = "k2", .secret = s2}, {.id = "k1", .secret = s1}}};
  EXPECT_EQ(h.schemes(), 2u);
  EXPECT_EQ(h.scheme_name(0), "hmac-sha256:k2");
  EXPECT_EQ(h.scheme_name(1), "hmac-sha256:k1");
  auto a = h.digest("sk_live_x", 0), b = h.digest("sk_live_x", 1);
  EXPECT_FALSE(digests_equal(a, b));
  EXPECT_TRUE(digests_equal(a, h.digest("sk_live_x", 0)));
  EXPECT_FALSE(digests_equal(a, api_key_hasher{}.digest("sk_live_x")));
  // From Python: hmac.new(b'a' * 32, b'sk_live_x', 'sha256').hexdigest()
  EXPECT_EQ(to_hex(b), "2d29e0acd3dc2839e455ff8998d650d475a0b06da0b5fabe7f21158457e6dc78");

  // Secrets longer than a block are hashed first; a block-sized one is not.
  api_key_hasher longer{{{.id = "l", .secret = std::string(100, 'c')}}};
  EXPECT_EQ(to_hex(longer.digest("sk_live_y")),
            "3d978e498b74545def98269a4dafd2fce6e267e000f933c129035c9dfe8a260f");
  api_key_hasher block{{{.id = "b", .secret = std::string(64, 'd')}}};
  EXPECT_EQ(to_hex(block.digest(std::string(200, 'x'))),
            "d19b778dd30698e5079173355ff7e7909e20bb4f86af4802c536f1f6461a4947");
  // Copies share the keyed state and agree.
  api_key_hasher copy = block;
  EXPECT_TRUE(digests_equal(copy.digest("q"), block.digest("q")));
}

TEST(api_key, hasher_refuses_weak_or_confusing_peppers) {
  EXPECT_THROW(api_key_hasher(std::vector<api_key_pepper>{}), config_error);
  EXPECT_THROW(api_key_hasher(std::vector<api_key_pepper>{{.id = "k1", .secret = "short"}}),
               config_error);
  EXPECT_THROW(
      api_key_hasher(std::vector<api_key_pepper>{{.id = "", .secret = std::string(32, 'x')}}),
      config_error);
  EXPECT_THROW(
      api_key_hasher(std::vector<api_key_pepper>{{.id = "k 1", .secret = std::string(32, 'x')}}),
      config_error);
  EXPECT_THROW(
      api_key_hasher(std::vector<api_key_pepper>{{.id = "k1", .secret = std::string(32, 'x')},
                                                 {.id = "k1", .secret = std::string(32, 'y')}}),
      config_error);
}

TEST(api_key, hex_round_trip_and_constant_time_compare) {
  api_key_digest d{};
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::uint8_t>(i * 7);
  api_key_digest back{};
  ASSERT_TRUE(from_hex(to_hex(d), back));
  EXPECT_TRUE(digests_equal(d, back));
  back[31] ^= 1;
  EXPECT_FALSE(digests_equal(d, back));
  EXPECT_FALSE(from_hex("zz", back));
  EXPECT_FALSE(from_hex(std::string(64, 'g'), back));
}

}  // namespace
}  // namespace portcullis
