#include "portcullis/detail/ascii.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <clocale>
#include <cstring>
#include <memory>
#include <string>

namespace {

using namespace portcullis::detail;

// The oracle for the classes is the C library in the "C" locale, which is
// pure ASCII; the test checks that the locale is "C" rather than assume it.
class ascii : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* name = std::setlocale(LC_CTYPE, nullptr);
    ASSERT_NE(name, nullptr);
    ASSERT_STREQ(name, "C") << "the oracle needs the C locale";
  }
};

char byte(int b) {
  return static_cast<char>(static_cast<unsigned char>(b));
}

TEST_F(ascii, classes_agree_with_the_c_locale_on_every_byte) {
  for (int b = 0; b < 256; ++b) {
    SCOPED_TRACE(b);
    char c = byte(b);
    EXPECT_EQ(is_ascii_upper(c), std::isupper(b) != 0);
    EXPECT_EQ(is_ascii_lower(c), std::islower(b) != 0);
    EXPECT_EQ(is_ascii_alpha(c), std::isalpha(b) != 0);
    EXPECT_EQ(is_ascii_digit(c), std::isdigit(b) != 0);
    EXPECT_EQ(is_ascii_alnum(c), std::isalnum(b) != 0);
    EXPECT_EQ(is_ascii_xdigit(c), std::isxdigit(b) != 0);
    EXPECT_EQ(is_ascii_space(c), std::isspace(b) != 0);
    EXPECT_EQ(ascii_lower(c), byte(std::tolower(b)));
    EXPECT_EQ(ascii_upper(c), byte(std::toupper(b)));
  }
}

TEST_F(ascii, tchar_is_exactly_the_rfc_9110_set) {
  // RFC 9110 §5.6.2: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" /
  // "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
  const char* marks = "!#$%&'*+-.^_`|~";
  int count = 0;
  for (int b = 0; b < 256; ++b) {
    SCOPED_TRACE(b);
    bool expected = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
                    (b != 0 && std::strchr(marks, b) != nullptr);
    EXPECT_EQ(is_tchar(byte(b)), expected);
    EXPECT_EQ(is_token(std::string(1, byte(b))), expected);
    count += is_tchar(byte(b));
  }
  EXPECT_EQ(count, 10 + 26 + 26 + 15);
}

TEST_F(ascii, token_needs_one_tchar_and_nothing_else) {
  EXPECT_TRUE(is_token("GET"));
  EXPECT_TRUE(is_token("X-Custom_Header.1~"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("Content Type"));
  EXPECT_FALSE(is_token("a:b"));
  EXPECT_FALSE(is_token(std::string_view("a\0b", 3)));
  EXPECT_FALSE(is_token("caf\xC3\xA9"));
}

TEST_F(ascii, iequals_folds_ascii_case_and_nothing_else_on_every_pair) {
  for (int x = 0; x < 256; ++x)
    for (int y = 0; y < 256; ++y) {
      char a = byte(x), b = byte(y);
      bool expected = std::tolower(x) == std::tolower(y);
      ASSERT_EQ(iequals({&a, 1}, {&b, 1}), expected) << x << " " << y;
    }
}

TEST_F(ascii, iequals_compares_lengths_and_every_byte) {
  struct row {
    std::string_view a, b;
    bool equal;
  };
  constexpr row rows[] = {
      {"", "", true},
      {"Content-Length", "content-LENGTH", true},
      {"content-length", "content-length ", false},
      {"content-lengti", "content-length", false},
      {"caf\xC9", "caf\xE9", false},  // É and é in Latin-1: not ASCII letters
      {"@", "`", false},              // 0x20 apart, like 'A' and 'a', yet not letters
      {"[", "{", false},
  };
  for (const auto& [a, b, equal] : rows) EXPECT_EQ(iequals(a, b), equal) << a << " / " << b;
}

// The regression that made CORS keep its own comparison: Boost 1.81's
// beast::iequals read past the end of both strings when they differed only
// in case. Exactly sized heap buffers make any over-read an error under the
// asan preset.
TEST_F(ascii, iequals_reads_nothing_past_either_end) {
  std::string_view a_text = "https://exAmple.org", b_text = "https://example.org";
  auto a = std::make_unique<char[]>(a_text.size());
  auto b = std::make_unique<char[]>(b_text.size());
  std::memcpy(a.get(), a_text.data(), a_text.size());
  std::memcpy(b.get(), b_text.data(), b_text.size());
  EXPECT_TRUE(iequals({a.get(), a_text.size()}, {b.get(), b_text.size()}));
  EXPECT_TRUE(iends_with({a.get(), a_text.size()}, "EXAMPLE.ORG"));
}

TEST_F(ascii, prefixes_and_suffixes) {
  struct row {
    std::string_view text, affix;
    bool starts, ends;
  };
  constexpr row rows[] = {
      {"Bearer abc", "bearer ", true, false},
      {"abc", "", true, true},
      {"Bear", "bearer ", false, false},
      {"Bearer", "bearer ", false, false},
      {"application/vnd.api+JSON", "+json", false, true},
      {"json", "+json", false, false},
      {"application/json", "+json", false, false},
      {"+json", "+JSON", true, true},
  };
  for (const auto& [text, affix, starts, ends] : rows) {
    EXPECT_EQ(istarts_with(text, affix), starts) << text << " / " << affix;
    EXPECT_EQ(iends_with(text, affix), ends) << text << " / " << affix;
  }
}

TEST_F(ascii, strings_fold_ascii_letters_only) {
  EXPECT_EQ(to_ascii_lower("HTTPS://Example.ORG/Path"), "https://example.org/path");
  EXPECT_EQ(to_ascii_lower("\xC3\x89T\xC3\x89"), "\xC3\x89t\xC3\x89");
  std::string s = "Mixed-Case 123 \xC3\xA9";
  ascii_upper_in_place(s);
  EXPECT_EQ(s, "MIXED-CASE 123 \xC3\xA9");
  ascii_lower_in_place(s);
  EXPECT_EQ(s, "mixed-case 123 \xC3\xA9");
}

TEST_F(ascii, trim_ows_strips_spaces_and_tabs_only) {
  EXPECT_EQ(trim_ows(" \t a b \t "), "a b");
  EXPECT_EQ(trim_ows("a"), "a");
  EXPECT_EQ(trim_ows(""), "");
  EXPECT_EQ(trim_ows(" \t\t "), "");
  // Not OWS (RFC 9110 §5.6.3): line breaks, other controls, NBSP.
  EXPECT_EQ(trim_ows("\r\na\n"), "\r\na\n");
  EXPECT_EQ(trim_ows("\va\f"), "\va\f");
  EXPECT_EQ(trim_ows("\xC2\xA0" "a\xC2\xA0"), "\xC2\xA0" "a\xC2\xA0");
  // A view into the same bytes, never a copy.
  const std::string text = "  value ";
  EXPECT_EQ(trim_ows(text).data(), text.data() + 2);
}

TEST_F(ascii, lower_snake_words_on_every_byte) {
  for (int b = 0; b < 256; ++b) {
    const bool expected = std::islower(b) || std::isdigit(b) || b == '_';
    EXPECT_EQ(is_lower_snake_word(std::string(1, byte(b))), expected) << b;
    EXPECT_EQ(is_lower_snake_word("ab" + std::string(1, byte(b)) + "9_"), expected) << b;
  }
  EXPECT_FALSE(is_lower_snake_word(""));
  EXPECT_TRUE(is_lower_snake_word("api_v2_requests"));
  EXPECT_FALSE(is_lower_snake_word("Api"));
  EXPECT_FALSE(is_lower_snake_word("a-b"));
}

// Usable in constant expressions, as the tables of the callers need.
static_assert(is_token("content-type") && !is_token("content type"));
static_assert(iequals("Origin", "ORIGIN") && !iequals("Origin", "Origin "));
static_assert(ascii_lower('Z') == 'z' && ascii_lower('[') == '[');
static_assert(iends_with("text/html", "HTML") && istarts_with("text/html", "TEXT/"));
static_assert(trim_ows("\t x ") == "x" && is_lower_snake_word("x_1") && !is_lower_snake_word(""));

}  // namespace
