#include "portcullis/schema.hpp"

#include "portcullis/errc.hpp"

#include <gtest/gtest.h>

#include <set>

namespace portcullis {
namespace {

using json = nlohmann::json;

// The single issue of validating `value`, or a failure.
issue only_issue(const schema& s, json value) {
  auto r = s.validate(std::move(value));
  EXPECT_EQ(r.issues.size(), 1u) << r.details();
  return r.issues.empty() ? issue{} : r.issues.front();
}

void expect_code(const schema& s, json value, std::string_view code, std::string field = "") {
  std::string text = value.dump();
  auto i = only_issue(s, std::move(value));
  EXPECT_EQ(i.code, code) << text << ": " << i.message;
  EXPECT_EQ(i.field, field) << text;
}

json ok_value(const schema& s, json value) {
  std::string text = value.dump();
  auto r = s.validate(std::move(value));
  EXPECT_TRUE(r.ok()) << text << ": " << r.details();
  return r.value;
}

json query_value(const schema& s, std::string_view q, query_options o = {}) {
  auto p = parse_query(q, o);
  EXPECT_TRUE(p.ok()) << q;
  auto r = s.validate_query(p.params, o);
  EXPECT_TRUE(r.ok()) << q << ": " << r.details();
  return r.value;
}

std::vector<issue> query_issues(const schema& s, std::string_view q, query_options o = {}) {
  auto p = parse_query(q, o);
  EXPECT_TRUE(p.ok()) << q;
  return s.validate_query(p.params, o).issues;
}

// -- Types -------------------------------------------------------------------

TEST(schema, invalid_type_for_every_kind) {
  expect_code(schema::string(), 1, "invalid_type");
  expect_code(schema::number(), "1", "invalid_type");
  expect_code(schema::integer(), "1", "invalid_type");
  expect_code(schema::integer(), 1.5, "invalid_type");
  expect_code(schema::boolean(), "true", "invalid_type");
  expect_code(schema::boolean(), 1, "invalid_type");
  expect_code(schema::null(), 0, "invalid_type");
  expect_code(schema::array(schema::any()), json::object(), "invalid_type");
  expect_code(schema::tuple({schema::any()}), "x", "invalid_type");
  expect_code(schema::object({}), json::array(), "invalid_type");
  expect_code(schema::record(schema::any()), 1, "invalid_type");
  expect_code(schema::string(), nullptr, "invalid_type");

  auto i = only_issue(schema::string(), 42);
  EXPECT_EQ(i.params.at("expected"), "string");
  EXPECT_EQ(i.params.at("received"), "number");
  EXPECT_EQ(i.message, "expected string, received number");
}

TEST(schema, strings_count_code_points) {
  auto s = schema::string().min(2).max(3);
  ok_value(s, "😀😀");   // 8 bytes, 2 code points
  ok_value(s, "é€😀");  // 9 bytes, 3 code points
  expect_code(s, "😀", "too_small");
  expect_code(s, "abcd", "too_big");
  auto i = only_issue(s, "😀😀😀😀");
  EXPECT_EQ(i.params, json({{"origin", "string"}, {"maximum", 3}, {"inclusive", true}}));
  auto e = only_issue(schema::string().length(2), "abc");
  EXPECT_EQ(e.params.at("exact"), true);
}

// Lengths are counted eight bytes at a time, then byte by byte: every
// length up to 40 characters of one to four bytes, at every alignment.
TEST(schema, code_points_are_counted_at_every_length_and_alignment) {
  const std::string characters[] = {"a", "é", "€", "😀"};
  std::string text;
  for (std::size_t count = 1; count <= 40; ++count) {
    text += characters[(count * 7 + count / 3) % 4];
    ok_value(schema::string().length(count), text);
    expect_code(schema::string().max(count - 1), text, "too_big");
    expect_code(schema::string().min(count + 1), text, "too_small");
  }
}

// A string has no more code points than bytes, so bounds its bytes settle
// are not counted; the answer is the count's all the same, for any bytes.
TEST(schema, lengths_settled_by_bytes_match_the_count) {
  ok_value(schema::string().max(3), "ééé");  // 6 bytes, 3 code points: counted
  expect_code(schema::string().max(2), "ééé", "too_big");
  ok_value(schema::string().max(6), "ééé");                  // within by bytes alone
  expect_code(schema::string().min(4), "abc", "too_small");  // short by bytes alone
  expect_code(schema::string().min(4), "ééé", "too_small");  // enough bytes, too few points
  ok_value(schema::string().min(0).max(0), "");
  // Not UTF-8, as a json value built in C++ may be (validated directly:
  // the helpers' dump() throws on it): three continuation bytes are no
  // code point at all.
  const json continuations = std::string("\x80\x80\x80");
  auto none = schema::string().min(1).validate(continuations);
  ASSERT_EQ(none.issues.size(), 1u);
  EXPECT_EQ(none.issues[0].code, "too_small");
  EXPECT_TRUE(schema::string().max(1).validate(continuations).ok());
}

TEST(schema, string_formats) {
  auto email = schema::string().email();
  for (auto good : {"a@example.com", "first.last+tag@sub.example.org", "x_y-z@a-b.co"})
    ok_value(email, good);
  for (auto bad : {"nope", "@example.com", "a@", "a@b", "a@example.c", "a..b@example.com",
                   ".a@example.com", "a.@example.com", "a@-example.com", "a@example..com",
                   "a b@example.com", "a@exa_mple.com", "a@example.c0m", "ä@example.com"}) {
    auto i = only_issue(email, bad);
    EXPECT_EQ(i.code, "invalid_format") << bad;
    EXPECT_EQ(i.params.at("format"), "email") << bad;
  }

  // The limits of each part, and a second '@'.
  const std::string label63(63, 'b'), local64(64, 'a');
  std::string host253;
  for (int i = 0; i < 49; ++i) host253 += "abcd.";
  host253 += "abcde.io";
  ASSERT_EQ(host253.size(), 253u);
  for (const std::string& good :
       std::vector<std::string>{local64 + "@example.com", "a@" + label63 + ".com", "a@" + host253,
                                "A-B.c!#$%&'*+/=?^_`{|}~@x-y.Example.ORG", "a@b-c.de"})
    ok_value(email, good);
  for (const std::string& bad : std::vector<std::string>{
           "a" + local64 + "@example.com", "a@" + label63 + "b.com", "a@x" + host253,
           "a@b@example.com", "a@example.com@", "@", "a@example.co-", "a@example-.com",
           "a@.example.com", "a@example.com.", "a@ex.c", "a@example.c-m", "a.@b.co",
           std::string("a@b.c\0o", 7)})
    expect_code(email, bad, "invalid_format");
  EXPECT_FALSE(email.validate(std::string("a@b.co\x80")).ok());

  auto url = schema::string().url();
  for (auto good : {"https://example.com", "http://example.com:8080/a?b=c#d", "HTTPS://EX.com/"})
    ok_value(url, good);
  for (auto bad : {"example.com", "javascript:alert(1)", "ftp://example.com", "https://",
                   "https:///path", "/relative", "http://exa mple.com", ""})
    expect_code(url, bad, "invalid_format");
  ok_value(schema::string().url({"ftp"}), "ftp://example.com/file");

  auto uuid = schema::string().uuid();
  for (auto good : {"123e4567-e89b-12d3-a456-426614174000", "00000000-0000-0000-0000-000000000000",
                    "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "01890a5d-ac96-774b-bcce-b302099a8057"})
    ok_value(uuid, good);
  for (auto bad : {"123e4567e89b12d3a456426614174000", "123e4567-e89b-02d3-a456-426614174000",
                   "123e4567-e89b-12d3-c456-426614174000", "g23e4567-e89b-12d3-a456-426614174000"})
    expect_code(uuid, bad, "invalid_format");

  auto re = schema::string().regex("[a-z]+");
  ok_value(re, "abc");
  auto i = only_issue(re, "ab1");  // anchored: a prefix match is not a match
  EXPECT_EQ(i.code, "invalid_format");
  EXPECT_EQ(i.params.at("format"), "regex");
  EXPECT_EQ(i.params.at("pattern"), "[a-z]+");
  expect_code(re, "1ab", "invalid_format");

  auto affix = schema::string().starts_with("sk_").ends_with("_x");
  ok_value(affix, "sk_1_x");
  auto r = affix.validate("pk_1");
  ASSERT_EQ(r.issues.size(), 2u);
  EXPECT_EQ(r.issues[0].params.at("format"), "starts_with");
  EXPECT_EQ(r.issues[1].params.at("format"), "ends_with");
}

TEST(schema, transforms_run_before_checks) {
  EXPECT_EQ(ok_value(schema::string().trim().min(1), " \t\u00A0ab c\u2003\n"), "ab c");
  expect_code(schema::string().trim().min(1), "   ", "too_small");
  EXPECT_EQ(ok_value(schema::string().to_lower(), "ÄBC"), "äbc");
  EXPECT_EQ(ok_value(schema::string().to_upper(), "ärger é"), "ÄRGER É");
  EXPECT_EQ(ok_value(schema::string().trim().to_lower().email(), " A@Example.COM "),
            "a@example.com");
}

TEST(schema, numbers) {
  auto n = schema::number().min(1).max(10);
  ok_value(n, 1);
  ok_value(n, 10.0);
  auto small = only_issue(n, 0.5);
  EXPECT_EQ(small.code, "too_small");
  EXPECT_EQ(small.params, json({{"origin", "number"}, {"minimum", 1}, {"inclusive", true}}));
  expect_code(n, 11, "too_big");

  auto ex = schema::number().gt(0).lt(1);
  ok_value(ex, 0.5);
  auto lo = only_issue(ex, 0);
  EXPECT_EQ(lo.params.at("inclusive"), false);
  expect_code(ex, 1, "too_big");

  auto m = schema::number().multiple_of(0.1);
  ok_value(m, 0.3);  // 0.1 * 3 is not exactly 0.3 in binary: tolerated
  auto i = only_issue(m, 0.35);
  EXPECT_EQ(i.code, "not_multiple_of");
  EXPECT_EQ(i.params.at("divisor"), 0.1);
  expect_code(schema::integer().multiple_of(5), 12, "not_multiple_of");
  ok_value(schema::integer().multiple_of(5), -15);
}

// Numbers of each json type (signed, unsigned, float) read as their value.
TEST(schema, numbers_of_every_json_type) {
  auto n = schema::number().min(-5).max(1e19);
  ok_value(n, -5);
  expect_code(n, -6, "too_small");
  ok_value(n, 10000000000000000000ULL);
  expect_code(n, UINT64_MAX, "too_big");
  ok_value(n, -4.5);
  expect_code(schema::integer().min(-5), -6, "too_small");
  ok_value(schema::integer().max(5), 5U);
  expect_code(schema::integer().max(5), 6U, "too_big");
  expect_code(schema::uint64().max(1e19), UINT64_MAX, "too_big");
}

TEST(schema, integers_fit_their_type_exactly) {
  auto i64 = schema::integer();
  ok_value(i64, INT64_MIN);
  ok_value(i64, INT64_MAX);
  expect_code(i64, 9223372036854775808ULL, "too_big");
  EXPECT_EQ(ok_value(i64, 1e2), 100);  // a whole float is an integer
  EXPECT_TRUE(ok_value(i64, 1e2).is_number_integer());
  expect_code(i64, 9007199254740994.0, "too_big");  // inexact as a double
  expect_code(i64, 1e30, "too_big");

  expect_code(schema::int32(), 2147483648LL, "too_big");
  expect_code(schema::int32(), -2147483649LL, "too_small");
  ok_value(schema::int32(), -2147483648LL);
  expect_code(schema::uint32(), -1, "too_small");
  ok_value(schema::uint32(), 4294967295LL);
  ok_value(schema::uint64(), UINT64_MAX);
  expect_code(schema::uint64(), -1, "too_small");
}

TEST(schema, enumerations_and_literals) {
  auto e = schema::enumeration({"red", "green"});
  ok_value(e, "red");
  auto i = only_issue(e, "blue");
  EXPECT_EQ(i.code, "invalid_value");
  EXPECT_EQ(i.params.at("values"), json({"red", "green"}));
  expect_code(e, 1, "invalid_value");
  ok_value(schema::literal(42), 42);
  expect_code(schema::literal(42), 43, "invalid_value");
  expect_code(schema::literal("a"), "b", "invalid_value");
}

TEST(schema, arrays_and_tuples) {
  auto a = schema::array(schema::integer().min(0)).min(1).max(3);
  ok_value(a, {1, 2, 3});
  expect_code(a, json::array(), "too_small");
  expect_code(a, {1, 2, 3, 4}, "too_big");
  expect_code(a, {1, -2}, "too_small", "1");
  expect_code(schema::array(schema::any()).nonempty(), json::array(), "too_small");

  auto u = schema::array(schema::any()).unique();
  ok_value(u, {1, "1", json::object()});
  expect_code(u, {1, 2, 1}, "duplicate", "2");
  expect_code(u, {json{{"a", 1}}, json{{"a", 1}}}, "duplicate", "1");

  auto t = schema::tuple({schema::string(), schema::integer()});
  ok_value(t, {"a", 1});
  expect_code(t, {"a"}, "too_small");
  expect_code(t, {"a", 1, 2}, "too_big");
  expect_code(t, {"a", "b"}, "invalid_type", "1");
  ok_value(t.rest(schema::boolean()), {"a", 1, true, false});
  expect_code(t.rest(schema::boolean()), {"a", 1, true, 0}, "invalid_type", "3");
}

TEST(schema, objects_strip_strict_passthrough) {
  auto o = schema::object({{"a", schema::integer()}, {"b", schema::string().optional()}});
  EXPECT_EQ(ok_value(o, {{"a", 1}, {"x", 2}, {"__proto__", 3}}), json({{"a", 1}}));
  EXPECT_EQ(ok_value(o.passthrough(), {{"a", 1}, {"x", 2}}), json({{"a", 1}, {"x", 2}}));
  auto i = only_issue(o.strict(), {{"a", 1}, {"x", 2}, {"constructor", 3}});
  EXPECT_EQ(i.code, "unrecognized_keys");
  EXPECT_EQ(i.params.at("keys"), json({"constructor", "x"}));

  auto r = o.validate(json::object());
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_EQ(r.issues[0].field, "a");
  EXPECT_EQ(r.issues[0].code, "invalid_type");
  EXPECT_EQ(r.issues[0].params.at("received"), "undefined");
}

// Field names are matched against the object's keys by whole words first:
// keys of every length up to 20 bytes, equal, and different in their first,
// middle or last byte.
TEST(schema, object_keys_match_at_every_length) {
  for (std::size_t size = 1; size <= 20; ++size) {
    std::string key;
    for (std::size_t i = 0; i < size; ++i) key += static_cast<char>('a' + i % 26);
    auto o = schema::object({{key, schema::integer()}}).strict();
    EXPECT_EQ(ok_value(o, {{key, 1}}), json({{key, 1}})) << key;
    for (std::size_t at : {std::size_t{0}, size / 2, size - 1}) {
      std::string other = key;
      other[at] = '\xff';
      auto r = o.validate({{other, 1}});
      ASSERT_EQ(r.issues.size(), 2u) << other;
      EXPECT_EQ(r.issues[0].field, key);
      EXPECT_EQ(r.issues[0].params.at("received"), "undefined");
      EXPECT_EQ(r.issues[1].code, "unrecognized_keys");
    }
    auto longer = o.validate({{key + "a", 1}});
    EXPECT_EQ(longer.issues.size(), 2u) << key;
  }
}

TEST(schema, every_issue_with_its_path) {
  auto order = schema::object({
      {"items", schema::array(schema::object(
                    {{"qty", schema::integer().min(1)}, {"sku", schema::string().length(4)}}))},
      {"note", schema::string().max(3)},
  });
  auto r = order.validate(json::parse(
      R"({"items":[{"qty":1,"sku":"abcd"},{"qty":1,"sku":"abcd"},{"qty":0,"sku":"ab"}],
          "note":"long"})"));
  ASSERT_EQ(r.issues.size(), 3u) << r.details();
  EXPECT_EQ(r.issues[0].field, "items.2.qty");
  EXPECT_EQ(r.issues[0].code, "too_small");
  EXPECT_EQ(r.issues[1].field, "items.2.sku");
  EXPECT_EQ(r.issues[2].field, "note");
  auto d = r.details();
  EXPECT_EQ(d[0], json({{"field", "items.2.qty"},
                        {"code", "too_small"},
                        {"message", "must be >= 1"},
                        {"origin", "int"},
                        {"minimum", 1},
                        {"inclusive", true}}));
}

TEST(schema, records) {
  auto r = schema::record(schema::string().max(3), schema::integer());
  ok_value(r, {{"a", 1}, {"abc", 2}});
  expect_code(r, {{"a", "x"}}, "invalid_type", "a");
  expect_code(r, {{"abcd", 1}}, "invalid_key", "abcd");
}

TEST(schema, unions) {
  auto website = schema::union_of({schema::string().url(), schema::literal("")});
  ok_value(website, "");
  ok_value(website, "https://example.com");
  auto i = only_issue(website, "nope");
  EXPECT_EQ(i.code, "invalid_union");
  EXPECT_EQ(i.params.at("errors").size(), 2u);

  // A failed option's transforms never leak into the next one.
  auto u = schema::union_of({schema::string().to_upper().length(1), schema::string()});
  EXPECT_EQ(ok_value(u, "ab"), "ab");

  auto shape = schema::discriminated_union(
      "kind", {schema::object({{"kind", schema::literal("circle")}, {"r", schema::number()}}),
               schema::object({{"kind", schema::literal("square")}, {"side", schema::number()}})});
  ok_value(shape, {{"kind", "circle"}, {"r", 1}});
  expect_code(shape, {{"kind", "square"}, {"r", 1}}, "invalid_type", "side");
  auto d = only_issue(shape, {{"kind", "hexagon"}});
  EXPECT_EQ(d.code, "invalid_union");
  EXPECT_EQ(d.field, "kind");
  EXPECT_EQ(d.params.at("discriminator"), "kind");
  expect_code(shape, "circle", "invalid_type");
}

TEST(schema, optional_nullable_defaults) {
  auto o = schema::object({
      {"a", schema::string().optional()},
      {"b", schema::string().nullable()},
      {"c", schema::integer().default_value(7)},
      {"d", schema::string().default_with([] { return json("made"); })},
  });
  EXPECT_EQ(ok_value(o, {{"b", nullptr}}), json({{"b", nullptr}, {"c", 7}, {"d", "made"}}));
  expect_code(o, {{"a", nullptr}, {"b", "x"}}, "invalid_type", "a");
  expect_code(o, json::object(), "invalid_type", "b");

  auto bad_default =
      schema::object({{"x", schema::integer().default_with([] { return json("s"); })}});
  expect_code(bad_default, json::object(), "invalid_type", "x");
}

TEST(schema, refinements) {
  auto pw = schema::object({{"a", schema::string()}, {"b", schema::string()}})
                .refine([](const json& v) { return v.at("a") == v.at("b"); }, "must match");
  ok_value(pw, {{"a", "x"}, {"b", "x"}});
  auto i = only_issue(pw, {{"a", "x"}, {"b", "y"}});
  EXPECT_EQ(i.code, "custom");
  EXPECT_EQ(i.message, "must match");
  // A refinement runs only when the rest passed.
  expect_code(pw, {{"a", "x"}}, "invalid_type", "b");
}

TEST(schema, coerce_opts_json_into_the_lax_table) {
  EXPECT_EQ(ok_value(schema::integer().coerce(), "12"), 12);
  EXPECT_EQ(ok_value(schema::boolean().coerce(), "off"), false);
  EXPECT_EQ(ok_value(schema::number().coerce(), "1.5"), 1.5);
  expect_code(schema::integer().coerce(), "12abc", "invalid_type");
}

TEST(schema, issue_count_is_capped) {
  auto s = schema::array(schema::string());
  json many = json::array();
  for (int i = 0; i < 1000; ++i) many.push_back(i);
  auto r = s.validate(many, 10);
  EXPECT_EQ(r.issues.size(), 10u);
  EXPECT_TRUE(r.truncated);
}

TEST(schema, messages_quote_little_input) {
  std::string huge(1 << 20, 'k');
  auto r = schema::object({}).strict().validate({{huge, 1}});
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_LT(r.issues[0].message.size(), 200u);
  EXPECT_EQ(r.issues[0].params.at("keys")[0].get<std::string>().size(), 64u);
  auto rec = schema::record(schema::integer()).validate({{huge, "x"}});
  ASSERT_EQ(rec.issues.size(), 1u);
  EXPECT_EQ(rec.issues[0].field.size(), 64u);
}

TEST(schema, hostile_values) {
  // A 1 MB string against a bounded string: one issue, quickly.
  std::string mb(1 << 20, 'a');
  expect_code(schema::string().max(255), mb, "too_big");
  ok_value(schema::string(), mb);

  // 100 000 keys against a five-field object: stripped.
  json wide = json::object();
  for (int i = 0; i < 100000; ++i) wide["k" + std::to_string(i)] = i;
  wide["a"] = 1;
  auto o = schema::object({{"a", schema::integer()}});
  EXPECT_EQ(ok_value(o, wide), json({{"a", 1}}));
  auto strict = o.strict().validate(wide);
  ASSERT_EQ(strict.issues.size(), 1u);
  EXPECT_EQ(strict.issues[0].params.at("keys").size(), 10u);

  // Deep values never recurse past the schema's own depth. The value is
  // only ever moved here: nlohmann::json copies and dumps recursively, and
  // 10 000 levels of that overflow the stack of the asan build (found by
  // scripts/check), which would hide what validate() itself does.
  auto deep = [] {
    json d = json::array();
    for (int i = 0; i < 10000; ++i) d = json::array({std::move(d)});
    return d;
  };
  auto shallow = schema::array(schema::array(schema::integer())).validate(deep());
  ASSERT_EQ(shallow.issues.size(), 1u);
  EXPECT_EQ(shallow.issues[0].code, "invalid_type");
  EXPECT_EQ(shallow.issues[0].field, "0.0");
  auto whole = schema::any().validate(deep());
  EXPECT_TRUE(whole.ok());
  int levels = 0;
  for (const json* p = &whole.value; p->is_array() && !p->empty(); p = &(*p)[0]) ++levels;
  EXPECT_EQ(levels, 10000);
}

// -- The lax table (queries and forms) ---------------------------------------

TEST(schema, lax_integer_table) {
  auto s = schema::object({{"n", schema::integer()}});
  for (auto [text, value] :
       std::vector<std::pair<std::string, std::int64_t>>{{"12", 12},
                                                         {"-3", -3},
                                                         {"0", 0},
                                                         {"-0", 0},
                                                         {"007", 7},
                                                         {"9223372036854775807", INT64_MAX},
                                                         {"-9223372036854775808", INT64_MIN}})
    EXPECT_EQ(query_value(s, "n=" + text).at("n"), value) << text;
  for (auto text : {"12abc", "1e400", "0x10", "%2012", "12%20", "1.5", "", "abc", "+1", "1e2",
                    "NaN", "Infinity", "--1", "1_000"}) {
    auto issues = query_issues(s, std::string("n=") + text);
    ASSERT_EQ(issues.size(), 1u) << text;
    EXPECT_EQ(issues[0].code, "invalid_type") << text;
    EXPECT_EQ(issues[0].field, "n") << text;
  }
  auto big = query_issues(s, "n=9223372036854775808");
  ASSERT_EQ(big.size(), 1u);
  EXPECT_EQ(big[0].code, "too_big");
  auto small = query_issues(s, "n=-9223372036854775809");
  ASSERT_EQ(small.size(), 1u);
  EXPECT_EQ(small[0].code, "too_small");
  EXPECT_EQ(query_issues(schema::object({{"n", schema::int32()}}), "n=2147483648")[0].code,
            "too_big");
}

TEST(schema, lax_number_and_boolean_tables) {
  auto n = schema::object({{"x", schema::number()}});
  for (auto [text, value] : std::vector<std::pair<std::string, double>>{
           {"1.5", 1.5}, {"-2", -2}, {"1e2", 100}, {"1E-2", 0.01}, {"0.0", 0}})
    EXPECT_EQ(query_value(n, "x=" + text).at("x").get<double>(), value) << text;
  for (auto text : {"1e400", "-1e400", "0x10", ".5", "5.", "1,5", " 1", "inf", "nan"})
    EXPECT_EQ(query_issues(n, std::string("x=") + text).at(0).code, "invalid_type") << text;

  auto b = schema::object({{"b", schema::boolean()}});
  for (auto text : {"true", "1", "yes", "on"})
    EXPECT_EQ(query_value(b, std::string("b=") + text).at("b"), true);
  for (auto text : {"false", "0", "no", "off"})
    EXPECT_EQ(query_value(b, std::string("b=") + text).at("b"), false);
  for (auto text : {"", "TRUE", "True", "y", "n", "2", "maybe", "null", "truex"})
    EXPECT_EQ(query_issues(b, std::string("b=") + text).at(0).code, "invalid_type") << text;
}

TEST(schema, lax_strings_nulls_and_literals) {
  auto s = schema::object({{"s", schema::string()},
                           {"n", schema::integer().nullable().optional()},
                           {"l", schema::literal(3).optional()},
                           {"e", schema::enumeration({"a", "b"}).optional()}});
  EXPECT_EQ(query_value(s, "s=a+b%20c&n=null&l=3&e=b"),
            json({{"s", "a b c"}, {"n", nullptr}, {"l", 3}, {"e", "b"}}));
  EXPECT_EQ(query_value(s, "s=&n=").at("n"), nullptr);
  EXPECT_EQ(query_value(s, "s=null").at("s"), "null");  // text stays text
  EXPECT_EQ(query_issues(s, "s=x&l=4").at(0).code, "invalid_value");
  EXPECT_EQ(query_issues(s, "s=x&e=c").at(0).code, "invalid_value");
}

TEST(schema, lax_duplicates_arrays_and_nesting) {
  auto s = schema::object({{"a", schema::string()}});
  auto dup = query_issues(s, "a=1&a=2");
  ASSERT_EQ(dup.size(), 1u);
  EXPECT_EQ(dup[0].code, "duplicate");
  EXPECT_EQ(dup[0].field, "a");
  EXPECT_EQ(query_value(s, "a=1&a=2", {.duplicates = duplicate_keys::first}).at("a"), "1");
  EXPECT_EQ(query_value(s, "a=1&a=2", {.duplicates = duplicate_keys::last}).at("a"), "2");

  auto arr = schema::object({{"ids", schema::array(schema::integer()).max(3)}});
  EXPECT_EQ(query_value(arr, "ids=1&ids=2").at("ids"), json({1, 2}));
  EXPECT_EQ(query_value(arr, "ids[]=1&ids[]=2").at("ids"), json({1, 2}));
  EXPECT_EQ(query_value(arr, "ids[1]=2&ids[0]=1").at("ids"), json({1, 2}));
  EXPECT_EQ(query_value(arr, "ids=5").at("ids"), json({5}));
  EXPECT_EQ(query_issues(arr, "ids=1&ids=2&ids=3&ids=4").at(0).code, "too_big");
  EXPECT_EQ(query_issues(arr, "ids[3]=1").at(0).code, "too_big");
  EXPECT_EQ(query_issues(arr, "ids[1]=1").at(0).field, "ids.0");  // a hole is a missing element
  EXPECT_EQ(query_issues(arr, "ids[01]=1").at(0).code, "invalid_key");
  EXPECT_EQ(query_issues(arr, "ids[x]=1").at(0).code, "invalid_key");
  EXPECT_EQ(query_issues(arr, "ids=x").at(0).field, "ids.0");

  // An array without its own maximum is capped by max_array_index.
  auto open = schema::object({{"ids", schema::array(schema::integer())}});
  EXPECT_EQ(query_issues(open, "ids[1001]=1").at(0).code, "too_big");

  auto nested = schema::object(
      {{"user", schema::object({{"name", schema::string()}, {"age", schema::integer()}})}});
  EXPECT_EQ(query_value(nested, "user[name]=ada&user[age]=36&user[x]=1"),
            json({{"user", {{"name", "ada"}, {"age", 36}}}}));
  EXPECT_EQ(query_issues(nested, "user=ada").at(0).code, "invalid_type");
  EXPECT_EQ(query_issues(nested, "user[name][x]=ada&user[age]=1").at(0).field, "user.name");
  auto rec = schema::object({{"tags", schema::record(schema::integer())}});
  EXPECT_EQ(query_value(rec, "tags[a]=1&tags[b]=2").at("tags"), json({{"a", 1}, {"b", 2}}));
  EXPECT_EQ(query_issues(schema::object({}).strict(), "x=1").at(0).code, "unrecognized_keys");
}

TEST(schema, lax_unions) {
  auto s = schema::object(
      {{"v", schema::union_of({schema::integer(), schema::enumeration({"all", "none"})})}});
  EXPECT_EQ(query_value(s, "v=3").at("v"), 3);
  EXPECT_EQ(query_value(s, "v=all").at("v"), "all");
  EXPECT_EQ(query_issues(s, "v=some").at(0).code, "invalid_union");
}

// -- Contradictions fail when built ------------------------------------------

TEST(schema, contradictions_throw_when_built) {
  EXPECT_THROW(schema::string().min(5).max(3), config_error);
  EXPECT_THROW(schema::string().max(3).min(5), config_error);
  EXPECT_THROW(schema::number().gt(1).lt(1), config_error);
  EXPECT_THROW(schema::integer().gt(1).lt(2), config_error);
  EXPECT_THROW(schema::array(schema::any()).min(3).max(2), config_error);
  EXPECT_THROW(schema::string().default_value(3), config_error);
  EXPECT_THROW(schema::string().default_value("ab").min(3), config_error);
  EXPECT_THROW(schema::integer().max(100).default_value(101), config_error);
  EXPECT_THROW(schema::string().regex("(unclosed"), config_error);
  EXPECT_THROW(schema::string().regex("(a)\\1"), config_error);  // RE2 has no backreferences
  EXPECT_THROW(schema::string().email().url(), config_error);
  EXPECT_THROW(schema::string().to_lower().to_upper(), config_error);
  EXPECT_THROW(schema::string().url({}), config_error);
  EXPECT_THROW(schema::string().max(2).starts_with("abc"), config_error);
  EXPECT_THROW(schema::number().multiple_of(0), config_error);
  EXPECT_THROW(schema::integer().multiple_of(0.5), config_error);
  EXPECT_THROW(schema::boolean().min(1), config_error);
  EXPECT_THROW(schema::number().email(), config_error);
  EXPECT_THROW(schema::string().min(-1), config_error);
  EXPECT_THROW(schema::string().min(1.5), config_error);
  EXPECT_THROW(schema::enumeration({}), config_error);
  EXPECT_THROW(schema::enumeration({"a", "a"}), config_error);
  EXPECT_THROW(schema::literal(json::array()), config_error);
  EXPECT_THROW(schema::object({{"a", schema::any()}, {"a", schema::any()}}), config_error);
  EXPECT_THROW(schema::union_of({}), config_error);
  EXPECT_THROW(schema::record(schema::integer(), schema::any()), config_error);
  EXPECT_THROW(schema::discriminated_union("k", {schema::string()}), config_error);
  EXPECT_THROW(
      schema::discriminated_union("k", {schema::object({{"k", schema::literal("a")}}),
                                        schema::object({{"k", schema::enumeration({"b", "a"})}})}),
      config_error);
  EXPECT_THROW(
      schema::discriminated_union("k", {schema::object({{"k", schema::literal("a").optional()}})}),
      config_error);

  schema deep = schema::any();
  EXPECT_THROW(
      {
        for (int i = 0; i < 100; ++i) deep = schema::array(deep);
      },
      config_error);

  try {
    schema::string().min(12).max(8);
    FAIL();
  } catch (const config_error& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with(
        "schema: the minimum length (12) is greater than the maximum length (8); "
        "lower min() or raise max()"))
        << e.what();
  }
}

// -- Loading from a JSON description -----------------------------------------

TEST(schema, loads_from_a_json_description) {
  auto s = schema::from_json(json::parse(R"({
    "type": "object", "unknown": "strict",
    "fields": {
      "email": {"type": "string", "format": "email", "max": 255, "trim": true, "case": "lower"},
      "password": {"type": "string", "min": 12, "max": 128},
      "name": {"type": "string", "min": 1, "max": 100, "optional": true},
      "website": {"type": "union", "optional": true, "options": [
        {"type": "string", "format": "url", "schemes": ["https"]},
        {"type": "literal", "value": ""}]},
      "role": {"type": "enum", "values": ["user", "admin"], "default": "user"},
      "tags": {"type": "array", "items": {"type": "string", "pattern": "[a-z]+"}, "max": 3,
               "unique": true, "optional": true},
      "age": {"type": "int32", "gt": 0, "lt": 200, "nullable": true, "optional": true},
      "point": {"type": "tuple", "items": [{"type": "number"}, {"type": "number"}],
                "optional": true},
      "meta": {"type": "record", "keys": {"type": "string", "max": 8}, "values": {"type": "any"},
               "optional": true},
      "id": {"type": "string", "format": "uuid", "optional": true}
    }})"));
  EXPECT_EQ(
      ok_value(s, {{"email", " A@Example.com"}, {"password", "correct-horse-battery"}}),
      json({{"email", "a@example.com"}, {"password", "correct-horse-battery"}, {"role", "user"}}));
  auto r = s.validate({{"email", "x"},
                       {"password", "short"},
                       {"website", "http://a.example"},
                       {"role", "root"},
                       {"tags", {"a", "a"}},
                       {"age", 0},
                       {"extra", 1},
                       {"meta", {{"too-long-key", 1}}}});
  std::set<std::string> fields;
  for (const auto& i : r.issues) fields.insert(i.field);
  EXPECT_EQ(fields, (std::set<std::string>{"", "age", "email", "meta.too-long-key", "password",
                                           "role", "tags.1", "website"}))
      << r.details();
}

TEST(schema, json_descriptions_that_are_wrong_name_the_place) {
  auto message = [](const char* text) {
    try {
      schema::from_json(json::parse(text));
    } catch (const config_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(R"({"type":"object","fields":{"a":{"type":"string","min":5,"max":3}}})")
                .find("schema at fields.a: the minimum length (5)"),
            std::string::npos);
  EXPECT_NE(message(R"({"type":"string","mni":3})").find("\"mni\""), std::string::npos);
  EXPECT_NE(message(R"({"type":"strin"})").find("unknown type"), std::string::npos);
  EXPECT_NE(message(R"({"fields":{}})").find("has no \"type\""), std::string::npos);
  EXPECT_NE(message(R"({"type":"array"})").find("needs \"items\""), std::string::npos);
  EXPECT_NE(message(R"({"type":"string","max":"3"})").find("not a number"), std::string::npos);
  EXPECT_NE(message(R"({"type":"integer","max":10,"default":11})").find("default"),
            std::string::npos);
  EXPECT_NE(message(R"({"type":"object","fields":{},"unknown":"drop"})").find("\"unknown\""),
            std::string::npos);
  EXPECT_NE(message(R"({"type":"string","schemes":["https"]})").find("schemes"), std::string::npos);
  EXPECT_NE(message(R"({"type":"array","items":{"type":"tuple","items":[{"type":"nope"}]}})")
                .find("schema at items.items.0"),
            std::string::npos);
  EXPECT_NE(message(R"({"type":"string","pattern":"(a)\\1"})").find("regex()"), std::string::npos);
}

TEST(schema, fluent_calls_leave_the_original_alone) {
  auto base = schema::string();
  auto bounded = base.max(2);
  ok_value(base, "abc");
  expect_code(bounded, "abc", "too_big");
}

TEST(schema, query_schema_must_be_object_like) {
  EXPECT_THROW(schema::string().validate_query(query_params{}), config_error);
}

}  // namespace
}  // namespace portcullis
