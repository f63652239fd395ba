#include "portcullis/query_string.hpp"

#include <gtest/gtest.h>

namespace portcullis {
namespace {

const query_params::node& at(const query_parse_result& r, std::string_view key) {
  static const query_params::node none;
  const auto* n = r.params.root().find(key);
  EXPECT_NE(n, nullptr) << key;
  return n != nullptr ? *n : none;
}

std::string_view error_code(std::string_view text, query_options o = {}) {
  auto r = parse_query(text, o);
  EXPECT_FALSE(r.ok()) << text;
  return r.ok() ? std::string_view{} : r.error->code;
}

TEST(query_string, pairs_repeats_and_brackets) {
  auto r = parse_query("a=1&b=x+y%21&a=2&&c&=skip&u[name]=ada&u[tags][]=x&ids[0]=7");
  ASSERT_TRUE(r.ok()) << r.error->message;
  EXPECT_EQ(r.params.size(), 7u);
  EXPECT_EQ(at(r, "a").values, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(at(r, "b").values, (std::vector<std::string>{"x y!"}));
  EXPECT_EQ(at(r, "c").values, (std::vector<std::string>{""}));
  const auto* name = at(r, "u").find("name");
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->values, (std::vector<std::string>{"ada"}));
  const auto* tags = at(r, "u").find("tags");
  ASSERT_NE(tags, nullptr);
  EXPECT_EQ(tags->values, (std::vector<std::string>{"x"}));
  EXPECT_NE(at(r, "ids").find("0"), nullptr);
  EXPECT_EQ(r.params.root().find(""), nullptr);
}

TEST(query_string, plus_is_a_space_only_when_asked) {
  EXPECT_EQ(at(parse_query("a=1+2"), "a").values.at(0), "1 2");
  EXPECT_EQ(at(parse_query("a=1+2", {.plus_as_space = false}), "a").values.at(0), "1+2");
  EXPECT_EQ(at(parse_query("a=1%2B2"), "a").values.at(0), "1+2");
}

TEST(query_string, encoded_brackets_are_data) {
  auto r = parse_query("a%5Bb%5D=1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(at(r, "a[b]").values.at(0), "1");
}

TEST(query_string, prototype_names_are_plain_data) {
  auto r = parse_query("__proto__[admin]=1&constructor[prototype][x]=2&hasOwnProperty=3");
  ASSERT_TRUE(r.ok());
  EXPECT_NE(at(r, "__proto__").find("admin"), nullptr);
  EXPECT_EQ(at(r, "hasOwnProperty").values.at(0), "3");
}

TEST(query_string, refusals) {
  EXPECT_EQ(error_code("a=%ZZ"), "invalid_encoding");
  EXPECT_EQ(error_code("a=%4"), "invalid_encoding");
  EXPECT_EQ(error_code("a=%"), "invalid_encoding");
  EXPECT_EQ(error_code("%ZZ=1"), "invalid_encoding");
  EXPECT_EQ(error_code("a=%FF"), "invalid_encoding");        // not UTF-8
  EXPECT_EQ(error_code("a=%ED%A0%80"), "invalid_encoding");  // a surrogate in UTF-8
  EXPECT_EQ(error_code("a=%C0%AF"), "invalid_encoding");     // overlong
  EXPECT_EQ(error_code("a=\xff"), "invalid_encoding");
  EXPECT_EQ(error_code("a[b=1"), "invalid_key");
  EXPECT_EQ(error_code("a[b]c=1"), "invalid_key");
  EXPECT_EQ(error_code("a[b[c]]=1"), "invalid_key");
  EXPECT_EQ(error_code("[a]=1"), "invalid_key");
  EXPECT_EQ(error_code("a[][b]=1"), "invalid_key");
  EXPECT_EQ(error_code("a[b][c][d][e][f][g]=1"), "too_deep");
  EXPECT_EQ(error_code("a[b]=1", {.max_depth = 0}), "too_deep");
  std::string long_key(300, 'k');
  long_key += "=1";
  EXPECT_EQ(error_code(long_key), "too_long");
  EXPECT_EQ(error_code("a=" + std::string(9000, 'v')), "too_long");

  auto deep = parse_query("a[b][c][d][e][f]=1");
  EXPECT_TRUE(deep.ok());  // five segments: at the limit
}

TEST(query_string, parameter_count_is_an_error_not_a_truncation) {
  std::string q;
  for (int i = 0; i < 1000; ++i) q += "x" + std::to_string(i) + "=1&";
  EXPECT_TRUE(parse_query(q).ok());
  q += "one=more";
  auto r = parse_query(q);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->code, "too_many_parameters");
  EXPECT_EQ(r.params.size(), 0u);
  EXPECT_EQ(error_code("a=1&b=2&c=3", {.max_parameters = 2}), "too_many_parameters");
}

TEST(query_string, hostile_inputs_are_bounded) {
  // A megabyte of separators, of one huge value, of brackets.
  EXPECT_TRUE(parse_query(std::string(1 << 20, '&')).ok());
  EXPECT_EQ(error_code("a=" + std::string(1 << 20, 'x')), "too_long");
  EXPECT_EQ(error_code("a" + std::string(100000, '[') + "=1"), "too_long");
  std::string brackets = "a";
  for (int i = 0; i < 100; ++i) brackets += "[x]";
  EXPECT_EQ(error_code(brackets + "=1", {.max_key_length = 1 << 20}), "too_deep");
  // Error fields never carry more than 64 bytes of the input.
  std::string long_key(200, 'k');
  long_key += "=%ZZ";
  auto r = parse_query(long_key, {.max_key_length = 1000});
  ASSERT_FALSE(r.ok());
  EXPECT_LE(r.error->field.size(), 64u);
}

TEST(query_string, percent_decode) {
  EXPECT_EQ(percent_decode("a%20b+c", true), "a b c");
  EXPECT_EQ(percent_decode("a%20b+c", false), "a b+c");
  EXPECT_EQ(percent_decode("%e2%82%ac", false), "€");
  EXPECT_FALSE(percent_decode("%e2%82", false).has_value());
  EXPECT_FALSE(percent_decode("%g0", false).has_value());
}

}  // namespace
}  // namespace portcullis
