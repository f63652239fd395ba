// portcullis/sanitize.hpp — the small sanitizers every API needs: strings,
// SQL identifiers (with ORDER BY mapping) and file names.
//
// Each one normalizes first and validates after, never the other way
// round: NFKC turns a fullwidth `＜` into `<` and a fullwidth solidus into
// `/`, so a check made before normalization is a check of another string.
//
//     auto name = portcullis::sanitize_string(
//         input, {.max_code_points = 64, .normalize = portcullis::normalization::nfc});
//     if (!name) return bad_request("name is not valid UTF-8");
//
//     portcullis::order_by_map sort{{{"name", "users.display_name"},
//                                    {"joined", "users.created_at"}},
//                                   "joined"};
//     std::string sql = "SELECT … ORDER BY " + sort.resolve(query["sort"]).sql();
//
//     std::string stored = portcullis::sanitize_filename(upload_name);  // never empty
//
// For HTML see html_sanitizer.hpp; for escaping see escape.hpp.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis {

// ---------------------------------------------------------------------------
// Strings

/// Unicode normalization applied before any other step.
enum class normalization {
  none,
  /// Canonical composition: "e" + U+0301 becomes "é". Changes no meaning.
  nfc,
  /// Compatibility composition: also folds fullwidth forms, ligatures and
  /// superscripts ("ﬁ" → "fi", "＜" → "<"). Use for identifiers and names
  /// that are compared; it changes how some text looks.
  nfkc,
};

/// What sanitize_string() does with bytes that are not valid UTF-8
/// (overlong forms such as C0 AF for '/', surrogates, stray bytes).
enum class invalid_utf8 {
  /// Each maximal invalid sequence becomes U+FFFD.
  replace,
  /// The whole string is refused (sanitized_string::status is invalid_utf8).
  refuse,
};

struct string_options {
  /// Remove Unicode white space (and control characters) at both ends.
  bool trim = true;
  /// Keep at most this many code points (0: no limit). The cut is on a
  /// code point boundary, so a UTF-8 sequence is never split; it may
  /// separate a base letter from a following combining mark.
  std::size_t max_code_points = 0;
  /// Keep U+0009 and U+000A (and turn CR LF or a lone CR into U+000A);
  /// otherwise they are removed like every other C0/C1 control and DEL.
  bool keep_tab_newline = false;
  invalid_utf8 on_invalid = invalid_utf8::replace;
  normalization normalize = normalization::none;
  /// Remove the bidirectional controls U+202A–U+202E, U+2066–U+2069,
  /// U+200E, U+200F and U+061C (an RLO can reverse how text displays).
  bool remove_bidi_controls = false;
  /// Remove zero-width characters U+200B, U+200C, U+200D, U+2060, U+FEFF
  /// (they make two different strings look the same).
  bool remove_zero_width = false;
};

enum class string_status {
  ok,
  /// The input was not valid UTF-8 and `on_invalid` is `refuse`.
  invalid_utf8,
};

/// The result of sanitize_string(): a value, never an exception.
struct sanitized_string {
  std::string value;  // empty when refused
  string_status status = string_status::ok;
  /// True when max_code_points cut the value.
  bool truncated = false;

  explicit operator bool() const noexcept { return status == string_status::ok; }
};

/// Cleans `input` in this order: UTF-8 repair (or refusal), normalization,
/// removal of controls / bidi controls / zero-width characters (then
/// normalization again if anything was removed, so the result stays
/// normalized), trimming, and finally the length cap. The result is valid
/// UTF-8 and sanitizing it again with the same options returns it unchanged.
sanitized_string sanitize_string(std::string_view input, const string_options& options = {});

// ---------------------------------------------------------------------------
// SQL identifiers (PostgreSQL)
//
// Parameterized queries are the defence against SQL injection; identifiers
// cannot be parameters, and these helpers are the last resort for the rare
// query whose column or table name comes from a request. Prefer
// order_by_map, which never puts the user's text into SQL at all.

/// Why an identifier was refused.
enum class identifier_status {
  ok,
  empty,
  /// Longer than 63 bytes: PostgreSQL would silently truncate it
  /// (NAMEDATALEN - 1), so two different names could meet.
  too_long,
  /// Outside [a-z_][a-z0-9_]*. Upper case is refused because PostgreSQL
  /// folds unquoted names to lower case and a quoted one would not match.
  bad_character,
  /// A reserved key word of PostgreSQL (SELECT, ORDER, USER …).
  reserved,
};

/// Checks `name` against the allowlist pattern, the 63-byte limit and the
/// reserved words of PostgreSQL 15 (Appendix C, "reserved" and "reserved
/// (can be function or type)").
identifier_status check_sql_identifier(std::string_view name) noexcept;

/// The identifier in double quotes for PostgreSQL ("a""b" for a"b), or
/// nullopt when check_sql_identifier() refuses it. Quoting an allowlisted
/// name is belt and braces: it also keeps a later reserved word working.
std::optional<std::string> quote_sql_identifier(std::string_view name);

/// Maps what a client asks to sort by ("name", "-name") onto a fixed set of
/// columns for a dynamic ORDER BY. The client's text is only ever a key;
/// the SQL comes from the map, quoted.
class order_by_map {
 public:
  /// One resolved choice.
  struct choice {
    std::string_view key;     // the accepted key ("name")
    std::string_view column;  // the column it maps to ("users.display_name")
    bool descending = false;
    bool defaulted = false;  // true when the request's key was not accepted

    /// `"users"."display_name" DESC` (each dotted part quoted).
    std::string sql() const;
  };

  /// `columns` maps keys to columns written as PostgreSQL folds them:
  /// dotted parts matching [a-z_][a-z0-9_]* of at most 63 bytes each
  /// (reserved words are fine: sql() quotes them). `default_key` must be
  /// one of the keys. Throws config_error naming the bad key or column.
  order_by_map(std::initializer_list<std::pair<std::string, std::string>> columns,
               std::string default_key, bool default_descending = false);

  /// Resolves `requested`: "key" (ascending), "-key" (descending), or
  /// "key:asc" / "key:desc". Anything else, including an unknown key or
  /// an empty string, gives the default with `defaulted` set (a value,
  /// never an exception: the caller may answer 400 instead).
  choice resolve(std::string_view requested) const noexcept;

 private:
  std::vector<std::pair<std::string, std::string>> columns_;
  std::size_t default_index_ = 0;
  bool default_descending_ = false;
};

// ---------------------------------------------------------------------------
// File names

struct filename_options {
  /// Maximum length in bytes (255 is the limit of ext4, NTFS and APFS),
  /// at least 32. The cut never splits a UTF-8 sequence and keeps an
  /// extension of up to 16 bytes.
  std::size_t max_bytes = 255;
  /// Replaces each path separator, `:` and each character Windows refuses
  /// (< > " | ? *). Must itself be a safe, non-empty file name character
  /// sequence ("_" or "-"); checked on every call (throws config_error).
  std::string replacement = "_";
  /// Returned when nothing usable remains. Must be a safe name.
  std::string fallback = "file";
};

/// Returns a name that is safe to use as one path component on Linux,
/// macOS and Windows, and is never empty. In order: invalid UTF-8 is
/// replaced, NFKC normalization (a fullwidth solidus becomes `/`), path
/// separators (`/`, `\` and look-alikes U+2215, U+2044, U+29F8) and `:`
/// (NTFS alternate streams) and Windows-invalid characters are replaced,
/// control, bidi and zero-width characters are removed (an RLO can show
/// "evil<U+202E>fdp.exe" as "evilexe.pdf"), leading dots, dashes and spaces and
/// trailing dots and spaces are stripped (so ".." and "." disappear),
/// Windows device names (CON, PRN, AUX, NUL, COM0–9, LPT0–9, CONIN$,
/// CONOUT$, CLOCK$, also with superscript digits) with or without an
/// extension get "_" prepended, and the length is capped.
/// Throws config_error when `options` is unusable.
std::string sanitize_filename(std::string_view input, const filename_options& options = {});

}  // namespace portcullis
