#include "portcullis/sanitize.hpp"

#include "portcullis/errc.hpp"

#include <gtest/gtest.h>

namespace portcullis {
namespace {

// ---------------------------------------------------------------------------
// Strings

TEST(sanitize_string, trims_and_removes_controls) {
  EXPECT_EQ(sanitize_string("  hello\x01 world\x7F\t\n ").value, "hello world");
  EXPECT_EQ(sanitize_string("\xC2\xA0\xE3\x80\x80x\xE2\x80\xAF").value, "x");  // NBSP, U+3000
  EXPECT_EQ(sanitize_string("a\xC2\x85"
                            "b\xC2\x9F"
                            "c")
                .value,
            "abc");  // C1 controls
  EXPECT_EQ(sanitize_string("  x  ", {.trim = false}).value, "  x  ");
}

TEST(sanitize_string, keeps_tab_and_newline_when_asked) {
  const string_options keep{.keep_tab_newline = true};
  EXPECT_EQ(sanitize_string("a\tb\r\nc\rd\ne\x0B", keep).value, "a\tb\nc\nd\ne");
  EXPECT_EQ(sanitize_string("a\tb\nc").value, "abc");
}

TEST(sanitize_string, caps_length_in_code_points_without_cutting_a_sequence) {
  const auto r = sanitize_string("h\xC3\xA9llo w\xC3\xB6rld", {.max_code_points = 4});
  EXPECT_EQ(r.value, "h\xC3\xA9ll");
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(sanitize_string("\xF0\x9F\x98\x80\xF0\x9F\x98\x80", {.max_code_points = 1}).value,
            "\xF0\x9F\x98\x80");
  // A cut that exposes a space is trimmed, so the result is stable.
  const auto cut = sanitize_string("abc def", {.max_code_points = 4});
  EXPECT_EQ(cut.value, "abc");
  EXPECT_EQ(sanitize_string(cut.value, {.max_code_points = 4}).value, cut.value);
  EXPECT_FALSE(sanitize_string("abc", {.max_code_points = 3}).truncated);
}

TEST(sanitize_string, invalid_utf8_is_replaced_or_refused) {
  const std::string fffd = "\xEF\xBF\xBD";
  for (const char* bad : {"\xC0\xAF", "\xE0\x80\xAF", "\xF0\x80\x80\xAF", "\xED\xA0\x80",
                          "\xF4\x90\x80\x80", "\x80", "\xFF", "\xE2\x82"}) {
    const auto r = sanitize_string(std::string("a") + bad + "b");
    EXPECT_TRUE(r);
    EXPECT_EQ(r.value.find('/'), std::string::npos);
    EXPECT_NE(r.value.find(fffd), std::string::npos) << bad;
    EXPECT_EQ(r.value.front(), 'a');
    EXPECT_EQ(r.value.back(), 'b');
    const auto refused =
        sanitize_string(std::string("a") + bad, {.on_invalid = invalid_utf8::refuse});
    EXPECT_FALSE(refused);
    EXPECT_EQ(refused.status, string_status::invalid_utf8);
    EXPECT_TRUE(refused.value.empty());
  }
  // Overlong "/" (C0 AF) is one replacement per maximal invalid sequence.
  EXPECT_EQ(sanitize_string("\xC0\xAF").value, fffd + fffd);
}

TEST(sanitize_string, normalizes_before_checking) {
  // "e" + combining acute becomes one code point under NFC.
  EXPECT_EQ(sanitize_string("e\xCC\x81", {.normalize = normalization::nfc}).value, "\xC3\xA9");
  // NFKC folds a fullwidth '<' to '<' and a ligature to its letters.
  EXPECT_EQ(sanitize_string("\xEF\xBC\x9C\xEF\xAC\x81", {.normalize = normalization::nfkc}).value,
            "<fi");
  EXPECT_EQ(sanitize_string("\xEF\xBC\x9C", {.normalize = normalization::nfc}).value,
            "\xEF\xBC\x9C");
  // Removing a zero-width joiner re-composes what it separated.
  EXPECT_EQ(sanitize_string("e\xE2\x80\x8D\xCC\x81",
                            {.normalize = normalization::nfc, .remove_zero_width = true})
                .value,
            "\xC3\xA9");
}

TEST(sanitize_string, removes_bidi_and_zero_width_when_asked) {
  const std::string rlo = "evil\xE2\x80\xAEtxt.exe";
  EXPECT_EQ(sanitize_string(rlo, {.remove_bidi_controls = true}).value, "eviltxt.exe");
  EXPECT_EQ(sanitize_string(rlo).value, rlo);
  EXPECT_EQ(sanitize_string("a\xE2\x80\x8B"
                            "d\xE2\x81\xA0m\xEF\xBB\xBFin",
                            {.remove_zero_width = true})
                .value,
            "admin");
}

// ---------------------------------------------------------------------------
// SQL identifiers

TEST(sql_identifier, allowlist_pattern_length_and_reserved_words) {
  EXPECT_EQ(check_sql_identifier("created_at"), identifier_status::ok);
  EXPECT_EQ(check_sql_identifier("_x9"), identifier_status::ok);
  EXPECT_EQ(check_sql_identifier(""), identifier_status::empty);
  EXPECT_EQ(check_sql_identifier("Name"), identifier_status::bad_character);
  EXPECT_EQ(check_sql_identifier("9lives"), identifier_status::bad_character);
  EXPECT_EQ(check_sql_identifier("a;drop table users"), identifier_status::bad_character);
  EXPECT_EQ(check_sql_identifier("a\"b"), identifier_status::bad_character);
  EXPECT_EQ(check_sql_identifier("n\xC3\xA4me"), identifier_status::bad_character);
  EXPECT_EQ(check_sql_identifier(std::string(63, 'a')), identifier_status::ok);
  EXPECT_EQ(check_sql_identifier(std::string(64, 'a')), identifier_status::too_long);
  for (const char* word : {"select", "order", "user", "table", "from", "all", "with", "verbose"})
    EXPECT_EQ(check_sql_identifier(word), identifier_status::reserved) << word;
  EXPECT_EQ(check_sql_identifier("users"), identifier_status::ok);
}

TEST(sql_identifier, quotes_only_accepted_names) {
  EXPECT_EQ(quote_sql_identifier("created_at"), "\"created_at\"");
  EXPECT_EQ(quote_sql_identifier("order"), std::nullopt);
  EXPECT_EQ(quote_sql_identifier("x\"; drop"), std::nullopt);
}

TEST(order_by_map, maps_keys_onto_fixed_columns) {
  const order_by_map sort{
      {{"name", "users.display_name"}, {"joined", "created_at"}, {"order", "orders.order"}},
      "joined"};
  EXPECT_EQ(sort.resolve("name").sql(), "\"users\".\"display_name\" ASC");
  EXPECT_EQ(sort.resolve("-name").sql(), "\"users\".\"display_name\" DESC");
  EXPECT_EQ(sort.resolve("name:desc").sql(), "\"users\".\"display_name\" DESC");
  EXPECT_EQ(sort.resolve("order:asc").sql(), "\"orders\".\"order\" ASC");
  for (const char* bad : {"", "-", "unknown", "name:sideways", "name; drop table users",
                          "display_name", "NAME", "users.display_name"}) {
    const auto c = sort.resolve(bad);
    EXPECT_TRUE(c.defaulted) << bad;
    EXPECT_EQ(c.key, "joined");
    EXPECT_EQ(c.sql(), "\"created_at\" ASC");
  }
  EXPECT_FALSE(sort.resolve("joined").defaulted);
}

TEST(order_by_map, bad_configuration_throws) {
  using columns = std::initializer_list<std::pair<std::string, std::string>>;
  const auto throws = [](columns c, std::string def, const char* needle) {
    try {
      order_by_map m(c, def);
      ADD_FAILURE() << "no config_error: " << needle;
    } catch (const config_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  throws({}, "x", "no columns");
  throws({{"a", "Users.Name"}}, "a", "lower case");
  throws({{"a", "users..name"}}, "a", "lower case");
  throws({{"a", "x; drop table y"}}, "a", "lower case");
  throws({{"a", "x"}, {"a", "y"}}, "a", "twice");
  throws({{"-a", "x"}}, "-a", "starts with '-'");
  throws({{"a", "x"}}, "b", "default key");
}

// ---------------------------------------------------------------------------
// File names

TEST(sanitize_filename, path_separators_and_traversal) {
  EXPECT_EQ(sanitize_filename("../../etc/passwd"), "_.._etc_passwd");
  EXPECT_EQ(sanitize_filename("..\\..\\boot.ini"), "_.._boot.ini");
  EXPECT_EQ(sanitize_filename(".."), "file");
  EXPECT_EQ(sanitize_filename("."), "file");
  EXPECT_EQ(sanitize_filename("/"), "_");
  // Fullwidth solidus and reverse solidus become / and \ under NFKC.
  EXPECT_EQ(sanitize_filename("..\xEF\xBC\x8F..\xEF\xBC\x8F"
                              "etc"),
            "_.._etc");
  EXPECT_EQ(sanitize_filename("a\xEF\xBC\xBC"
                              "b"),
            "a_b");
  EXPECT_EQ(sanitize_filename("a\xE2\x88\x95"
                              "b\xE2\x81\x84"
                              "c"),
            "a_b_c");  // look-alikes
}

TEST(sanitize_filename, controls_bidi_colons_and_windows_characters) {
  EXPECT_EQ(sanitize_filename("a\x01\x1F\x7F"
                              "b\n.txt"),
            "ab.txt");
  EXPECT_EQ(sanitize_filename("invoice\xE2\x80\xAE"
                              "fdp.exe"),
            "invoicefdp.exe");
  EXPECT_EQ(sanitize_filename("file.txt:secret:$DATA"), "file.txt_secret_$DATA");
  EXPECT_EQ(sanitize_filename("a<b>c\"d|e?f*g"), "a_b_c_d_e_f_g");
  EXPECT_EQ(sanitize_filename("zero\xE2\x80\x8Bwidth"), "zerowidth");
  EXPECT_EQ(sanitize_filename("a\xEF\xBC\x9A"
                              "b"),
            "a_b");  // fullwidth colon
}

TEST(sanitize_filename, leading_and_trailing_characters) {
  EXPECT_EQ(sanitize_filename(".htaccess"), "htaccess");
  EXPECT_EQ(sanitize_filename("-rf"), "rf");
  EXPECT_EQ(sanitize_filename("--help.txt"), "help.txt");
  EXPECT_EQ(sanitize_filename("name.txt. . "), "name.txt");
  EXPECT_EQ(sanitize_filename("  spaced  "), "spaced");
}

TEST(sanitize_filename, windows_device_names) {
  for (const char* name :
       {"CON", "con", "NUL", "nul.txt", "aux.txt", "COM1", "com9.log", "LPT1", "lpt0", "PRN.tar.gz",
        "CONIN$", "conout$.txt", "CON .txt", "COM\xC2\xB9", "clock$"}) {
    const std::string out = sanitize_filename(name);
    EXPECT_EQ(out.front(), '_') << name << " -> " << out;
  }
  EXPECT_EQ(sanitize_filename("aux.txt"), "_aux.txt");
  EXPECT_EQ(sanitize_filename("console.txt"), "console.txt");
  EXPECT_EQ(sanitize_filename("com10"), "com10");
}

TEST(sanitize_filename, length_cap_keeps_utf8_and_extension) {
  std::string long_name;
  for (int i = 0; i < 200; ++i) long_name += "\xC3\xA9";  // 400 bytes
  const std::string out = sanitize_filename(long_name + ".pdf");
  EXPECT_LE(out.size(), 255u);
  EXPECT_TRUE(out.ends_with(".pdf"));
  EXPECT_EQ((out.size() - 4) % 2, 0u) << "a two-byte sequence was cut";
  const std::string no_ext = sanitize_filename(std::string(300, 'a'));
  EXPECT_EQ(no_ext.size(), 255u);
  std::string emoji;
  for (int i = 0; i < 100; ++i) emoji += "\xF0\x9F\x98\x80";
  const std::string e = sanitize_filename(emoji, {.max_bytes = 33});
  EXPECT_EQ(e.size(), 32u);
}

TEST(sanitize_filename, never_empty_and_stable) {
  for (const char* input : {"", " ", "...", "---", "\x01\x02", "\xE2\x80\xAE", "/../", "\xFF\xFE",
                            "CON", "a/b\\c:d", "..\xEF\xBC\x8F"}) {
    const std::string out = sanitize_filename(input);
    EXPECT_FALSE(out.empty()) << input;
    EXPECT_EQ(sanitize_filename(out), out) << input;
  }
  EXPECT_EQ(sanitize_filename(""), "file");
  EXPECT_EQ(sanitize_filename("", {.fallback = "upload.bin"}), "upload.bin");
}

TEST(sanitize_filename, bad_options_throw) {
  EXPECT_THROW(sanitize_filename("x", {.max_bytes = 10}), config_error);
  EXPECT_THROW(sanitize_filename("x", {.replacement = "/"}), config_error);
  EXPECT_THROW(sanitize_filename("x", {.replacement = ""}), config_error);
  EXPECT_THROW(sanitize_filename("x", {.fallback = ".hidden"}), config_error);
  EXPECT_THROW(sanitize_filename("x", {.fallback = "nul"}), config_error);
}

}  // namespace
}  // namespace portcullis
