#include "portcullis/json_body.hpp"

#include <gtest/gtest.h>

#include <string_view>

namespace portcullis {
namespace {

using json = nlohmann::json;

const json_error& error_of(const json_parse_result& r) {
  static const json_error none{};
  EXPECT_FALSE(r.ok());
  return r.ok() ? none : *r.error;
}

TEST(json_body, parses_like_nlohmann) {
  auto text = R"({"a":[1,-2,3.5,"x",true,null,{"b":{}}],"u":18446744073709551615})";
  auto r = parse_json(text);
  ASSERT_TRUE(r.ok()) << r.error->message;
  EXPECT_EQ(r.value, json::parse(text));
  EXPECT_TRUE(r.value.at("u").is_number_unsigned());
  EXPECT_EQ(parse_json("42").value, 42);
  EXPECT_EQ(parse_json(" \"s\" ").value, "s");
}

// Fuzz finding (json_schema, corpus regression-nul-after-a-value): the
// reference parser, nlohmann::json::parse, stops at a NUL byte and reads
// "7\0" as 7. RFC 8259 has no place for a NUL: not between tokens, not raw
// inside a string. Each of these is refused where the NUL stands.
TEST(json_body, a_nul_byte_after_a_value_is_refused) {
  using namespace std::string_view_literals;
  struct bad {
    std::string_view text;
    std::size_t column;
  } cases[] = {{"7\0"sv, 2}, {"{\"a\":1}\0junk"sv, 8}, {"\0 7"sv, 1}, {"\"a\0b\""sv, 3}};
  for (const auto& c : cases) {
    auto r = parse_json(c.text);
    const auto& e = error_of(r);
    EXPECT_EQ(e.code, "invalid_json") << c.text.size();
    EXPECT_EQ(e.column, c.column) << c.text.size();
  }
}

TEST(json_body, syntax_errors_say_line_and_column) {
  auto r = parse_json("{\"email\": ");
  const auto& e = error_of(r);
  EXPECT_EQ(e.code, "invalid_json");
  EXPECT_EQ(e.line, 1u);
  EXPECT_EQ(e.column, 11u);  // just past the end of the input

  auto multi = parse_json("{\n  \"a\": 1,\n  \"b\": tru\n}");
  EXPECT_EQ(error_of(multi).line, 3u);
  EXPECT_EQ(error_of(multi).column, 11u);
  EXPECT_EQ(error_of(multi).message, "invalid JSON at line 3, column 11");

  for (auto bad : {"", "{", "[1,]", "{\"a\":1,}", "01", "[1] [2]", "{'a':1}", "NaN", "[Infinity]",
                   "\"\\x\"", "/* c */ 1"})
    EXPECT_EQ(error_of(parse_json(bad)).code, "invalid_json") << bad;
  EXPECT_EQ(parse_json("").value, nullptr);
}

TEST(json_body, number_overflow) {
  auto e = error_of(parse_json("[1e400]"));
  EXPECT_EQ(e.code, "invalid_json");
  EXPECT_NE(e.message.find("number out of range"), std::string::npos) << e.message;
  // Past uint64 an integer becomes a double, as in nlohmann::json.
  EXPECT_TRUE(parse_json("123456789012345678901234567890").value.is_number_float());
}

TEST(json_body, invalid_utf8_and_lone_surrogates) {
  for (std::string bad : {"\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\\ud800\"",
                          "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"abc\xe2\x82\""})
    EXPECT_EQ(error_of(parse_json(bad)).code, "invalid_json") << bad;
  EXPECT_EQ(parse_json("\"\\ud83d\\ude00\"").value, "😀");
}

TEST(json_body, repeated_keys_are_refused) {
  auto e = error_of(parse_json(R"({"a":{"b":[{"c":1,"c":2}]}})"));
  EXPECT_EQ(e.code, "duplicate");
  EXPECT_EQ(e.field, "a.b.0.c");
  EXPECT_EQ(error_of(parse_json(R"({"email":"c","email":"d"})")).field, "email");
  EXPECT_TRUE(parse_json(R"([{"a":1},{"a":2}])").ok());  // same key, different objects
}

TEST(json_body, depth_is_capped_before_the_stack_is_at_risk) {
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto e = error_of(parse_json(deep));
  EXPECT_EQ(e.code, "too_deep");
  EXPECT_EQ(error_of(parse_json(std::string(1000000, '['))).code, "too_deep");
  EXPECT_EQ(error_of(parse_json(R"({"a":{"b":[[1]]}})", {.max_depth = 3})).field, "a.b.0");
  EXPECT_TRUE(parse_json(std::string(64, '[') + std::string(64, ']')).ok());
  EXPECT_FALSE(parse_json(std::string(65, '[') + std::string(65, ']')).ok());
}

TEST(json_body, value_count_is_capped) {
  std::string wide = "{";
  for (int i = 0; i < 100000; ++i) wide += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":1";
  wide += "}";
  EXPECT_EQ(error_of(parse_json(wide)).code, "too_big");
  auto r = parse_json(wide, {.max_values = 200000});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.size(), 100000u);
}

TEST(json_body, megabyte_strings) {
  std::string big = "\"" + std::string(1 << 20, 'a') + "\"";
  auto r = parse_json(big);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.get_ref<const std::string&>().size(), 1u << 20);
}

TEST(json_body, errors_quote_little_input) {
  std::string key(1000, 'k');
  auto e = error_of(parse_json("{\"" + key + "\":1,\"" + key + "\":2}"));
  EXPECT_LE(e.field.size(), 64u);
  EXPECT_LT(e.message.size(), 120u);
}

}  // namespace
}  // namespace portcullis
