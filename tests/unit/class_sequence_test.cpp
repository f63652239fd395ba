#include "portcullis/detail/class_sequence.hpp"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <random>
#include <string>
#include <vector>

namespace {

using portcullis::detail::class_sequence;

// Every pattern here is in the subset, with a text it matches;
// RE2::FullMatch is the oracle.
struct accepted {
  std::string pattern;
  std::string example;
};

const std::vector<accepted>& accepted_patterns() {
  static const std::vector<accepted> p = {
      {"[A-Z]{3}-[0-9]{1,6}", "PQR-700001"},  // the order payload's sku
      {"\\d{5}", "01234"},
      {"[a-z0-9_]+", "a_1"},
      {"[a-z]*[a-z]{2}", "abc"},  // overlapping classes: every live position counts
      {"a?b*c+", "bbc"},
      {"[-a]x[b-]", "-x-"},
      {"\\w{2,4}", "A_9"},
      {"x{0}y", "y"},
      {"", ""},
      {"[.*+?(]\\.", "(."},
      {"a{2,}b?", "aaab"},
      {"[ -/]{0,3}z", " /z"},
      {"\\-\\[\\]\\{\\}\\\\", "-[]{}\\"},
      {"[a\\d\\-]{1,3}", "a-1"},
      {"[Z-a]{2}", "[`"},  // a range across the punctuation between the cases
      {"a*a*a*b", "aaaab"},
      {"[ab]{0,5}[bc]{0,5}c", "abbbbbbcc"},
      {"#! %&'/:;<=>@_`~,\"", "#! %&'/:;<=>@_`~,\""},
      // Runs of optional positions that may be passed over: several, next
      // to each other or one position apart, at the start and at the end,
      // and one that reaches the 63rd (last) position.
      {"a?b?xc?y?z?", "bxz"},
      {"x?[0-9]{0,2}y[a-z]{1,3}", "5yab"},
      {"[ab]{1,63}", "ab"},
  };
  return p;
}

// Bytes that the patterns use, their neighbours, and some they never
// match: NUL, LF, DEL, a UTF-8 lead byte.
constexpr char alphabet_bytes[] = "aAbcxyzZ09_-.*+?( /[]\\#\x00\n\x7f\xc3";
constexpr std::string_view alphabet(alphabet_bytes, sizeof alphabet_bytes - 1);

TEST(class_sequence, agrees_with_re2_on_every_short_string) {
  for (const auto& [pattern, example] : accepted_patterns()) {
    SCOPED_TRACE(pattern);
    RE2 re(pattern);
    ASSERT_TRUE(re.ok()) << re.error();
    auto seq = class_sequence::compile(pattern);
    ASSERT_TRUE(seq.has_value());
    EXPECT_TRUE(RE2::FullMatch(example, re));
    EXPECT_TRUE(seq->full_match(example));

    // Every string of up to four bytes of the alphabet (27^4 = 531 441).
    std::string text;
    auto check = [&](auto& self, std::size_t left) -> void {
      ASSERT_EQ(seq->full_match(text), RE2::FullMatch(text, re)) << "text \"" << text << "\"";
      if (left == 0) return;
      for (char c : alphabet) {
        text.push_back(c);
        self(self, left - 1);
        text.pop_back();
        if (::testing::Test::HasFailure()) return;
      }
    };
    check(check, 4);
  }
}

// Longer strings: each pattern's example with a few bytes replaced,
// inserted or removed, so that about half of them still match.
TEST(class_sequence, agrees_with_re2_on_mutated_examples) {
  std::mt19937 rng(20261204);
  for (const auto& [pattern, example] : accepted_patterns()) {
    SCOPED_TRACE(pattern);
    RE2 re(pattern);
    auto seq = class_sequence::compile(pattern);
    ASSERT_TRUE(seq.has_value());
    const std::string pool = pattern + std::string(alphabet);
    std::size_t matches = 0;
    for (int i = 0; i < 20000; ++i) {
      std::string text = example;
      for (unsigned edits = rng() % 3; edits > 0; --edits) {
        std::size_t at = text.empty() ? 0 : rng() % (text.size() + 1);
        char c = pool[rng() % pool.size()];
        switch (rng() % 3) {
          case 0:
            text.insert(at, 1, c);
            break;
          case 1:
            if (at < text.size()) text[at] = c;
            break;
          default:
            if (at < text.size()) text.erase(at, 1);
        }
      }
      bool expected = RE2::FullMatch(text, re);
      matches += expected;
      ASSERT_EQ(seq->full_match(text), expected) << "text \"" << text << "\"";
    }
    EXPECT_GT(matches, 0u);
    EXPECT_LT(matches, 20000u);
  }
}

TEST(class_sequence, matches_the_sku_pattern_as_the_schema_means_it) {
  auto seq = class_sequence::compile("[A-Z]{3}-[0-9]{1,6}");
  ASSERT_TRUE(seq.has_value());
  EXPECT_EQ(seq->positions(), 10u);
  EXPECT_TRUE(seq->full_match("ABC-1"));
  EXPECT_TRUE(seq->full_match("PQR-700001"));
  EXPECT_FALSE(seq->full_match("PQR-7000011"));  // seven digits
  EXPECT_FALSE(seq->full_match("AB-1"));
  EXPECT_FALSE(seq->full_match("ABC-"));
  EXPECT_FALSE(seq->full_match("abc-1"));
  EXPECT_FALSE(seq->full_match("ABC-1 "));  // anchored at the end too
  EXPECT_FALSE(seq->full_match(" ABC-1"));
  EXPECT_FALSE(seq->full_match(std::string_view("ABC-1\0", 6)));
  EXPECT_FALSE(seq->full_match(""));
}

// "{08}" with a leading zero is literal text to RE2 (a fuzzing finding:
// \w{8,044} was taken as a count of 8 to 44).
TEST(class_sequence, refuses_what_it_cannot_match_exactly) {
  for (const char* pattern : {
           "(ab)",   "a|b",      "^a",         "a$",      ".",       "[^a]",       "[[:alpha:]]",
           "\\s",    "\\D",      "\\bx",       "a*?",     "a+?",     "a??",        "a{2}{3}",
           "a{2}*",  "(?i)a",    "a{,3}",      "a{2",     "a{02}",   "\\w{8,044}", "a{1001}",
           "a{3,2}", "\xc3\xa9", "[\xc3\xa9]", "[a-c-e]", "[\\d-z]", "[]a]",       "[a",
           "\\",     "]",        "}",          "\\x41",   "\\pL",    "a\tb",       "[a-\\d]",
       }) {
    EXPECT_FALSE(class_sequence::compile(pattern).has_value()) << pattern;
  }
  // 63 positions is the most; one more and RE2 keeps the pattern.
  EXPECT_TRUE(class_sequence::compile("[a-z]{1,63}").has_value());
  EXPECT_FALSE(class_sequence::compile("[a-z]{1,64}").has_value());
  EXPECT_TRUE(class_sequence::compile("[a-z]{63}").has_value());
  EXPECT_FALSE(class_sequence::compile("[a-z]{64}").has_value());
}

}  // namespace
