// String, SQL identifier and file name sanitizers; see sanitize.hpp.
#include "portcullis/sanitize.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/detail/utf8.hpp"
#include "portcullis/errc.hpp"

#include <algorithm>
#include <array>

namespace portcullis {
namespace {

using detail::append_utf8;
using detail::decode_utf8;

constexpr char32_t replacement_character = 0xFFFD;

bool is_control(char32_t cp) noexcept {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

bool is_bidi_control(char32_t cp) noexcept {
  return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E ||
         cp == 0x200F || cp == 0x061C;
}

bool is_zero_width(char32_t cp) noexcept {
  return cp == 0x200B || cp == 0x200C || cp == 0x200D || cp == 0x2060 || cp == 0xFEFF;
}

// Unicode White_Space (PropList.txt).
bool is_white_space(char32_t cp) noexcept {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

detail::normal_form form_of(normalization n) noexcept {
  return n == normalization::nfkc ? detail::normal_form::nfkc : detail::normal_form::nfc;
}

// Replaces each invalid sequence by `replacement`; returns false instead
// when `refuse` is set and the text is invalid.
bool repair_utf8(std::string_view in, std::string& out, std::string_view replacement, bool refuse) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t at = 0; at < in.size();) {
    const auto step = decode_utf8(in, at);
    if (step.valid) {
      out.append(in.substr(at, step.length));
    } else {
      if (refuse) return false;
      out.append(replacement);
    }
    at += step.length;
  }
  return true;
}

// Normalization of text that is known to be valid UTF-8. utf8proc only
// fails on invalid input or exhausted memory; the latter is an exception.
std::string normalized(std::string_view text, normalization n) {
  auto out = detail::normalize_utf8(text, form_of(n));
  if (!out) throw std::bad_alloc();
  return std::move(*out);
}

// The byte offset after the first `count` code points of valid UTF-8.
std::size_t code_point_prefix(std::string_view text, std::size_t count) noexcept {
  std::size_t at = 0;
  for (std::size_t n = 0; n < count && at < text.size(); ++n) at += decode_utf8(text, at).length;
  return at;
}

// The longest prefix of valid UTF-8 `text` of at most `max` bytes that
// ends on a code point boundary.
std::size_t byte_prefix(std::string_view text, std::size_t max) noexcept {
  if (text.size() <= max) return text.size();
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

// Trims code points for which `strip` is true from both ends (or one).
template <class Pred>
std::string_view trim_by(std::string_view text, Pred strip, bool front, bool back) {
  if (front) {
    std::size_t at = 0;
    while (at < text.size()) {
      const auto step = decode_utf8(text, at);
      if (!strip(step.code_point)) break;
      at += step.length;
    }
    text.remove_prefix(at);
  }
  if (back) {
    while (!text.empty()) {
      std::size_t start = text.size() - 1;
      while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
      if (!strip(decode_utf8(text, start).code_point)) break;
      text.remove_suffix(text.size() - start);
    }
  }
  return text;
}

}  // namespace

// ---------------------------------------------------------------------------
// Strings

sanitized_string sanitize_string(std::string_view input, const string_options& options) {
  sanitized_string result;

  // 1. Repair or refuse invalid UTF-8, then normalize: every later step
  //    looks at code points as the reader of the result will see them.
  std::string text;
  std::string fffd;
  append_utf8(fffd, replacement_character);
  if (!repair_utf8(input, text, fffd, options.on_invalid == invalid_utf8::refuse)) {
    result.status = string_status::invalid_utf8;
    return result;
  }
  if (options.normalize != normalization::none) text = normalized(text, options.normalize);

  // 2. Remove controls and, when asked, bidi and zero-width characters.
  std::string kept;
  kept.reserve(text.size());
  bool removed = false;
  for (std::size_t at = 0; at < text.size();) {
    const auto step = decode_utf8(text, at);
    const char32_t cp = step.code_point;
    at += step.length;
    if (options.keep_tab_newline && (cp == '\t' || cp == '\n')) {
      kept.push_back(static_cast<char>(cp));
    } else if (options.keep_tab_newline && cp == '\r') {
      kept.push_back('\n');  // CR LF and a lone CR both end one line
      if (at < text.size() && text[at] == '\n') ++at;
    } else if (is_control(cp) || (options.remove_bidi_controls && is_bidi_control(cp)) ||
               (options.remove_zero_width && is_zero_width(cp))) {
      removed = true;
    } else {
      kept.append(text, at - step.length, step.length);
    }
  }
  // Removing a character between a letter and a combining mark can leave
  // text that is no longer normalized.
  if (removed && options.normalize != normalization::none)
    kept = normalized(kept, options.normalize);

  // 3. Trim, cap the length, and trim again: a cut can expose a space.
  const auto white = [](char32_t cp) { return is_white_space(cp) || is_control(cp); };
  std::string_view view = kept;
  if (options.trim) view = trim_by(view, white, true, true);
  if (options.max_code_points != 0) {
    const std::size_t cut = code_point_prefix(view, options.max_code_points);
    if (cut < view.size()) {
      result.truncated = true;
      view = view.substr(0, cut);
      if (options.trim) view = trim_by(view, white, false, true);
    }
  }
  result.value.assign(view);
  return result;
}

// ---------------------------------------------------------------------------
// SQL identifiers

namespace {

// PostgreSQL 15, Appendix C: "reserved" and "reserved (can be function or
// type)". Sorted for binary search.
constexpr std::string_view reserved_words[] = {
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
};

bool is_reserved(std::string_view name) noexcept {
  return std::binary_search(std::begin(reserved_words), std::end(reserved_words), name);
}

// [a-z_][a-z0-9_]* within PostgreSQL's 63 bytes; reserved words aside.
identifier_status check_shape(std::string_view name) noexcept {
  if (name.empty()) return identifier_status::empty;
  if (name.size() > 63) return identifier_status::too_long;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return identifier_status::bad_character;
  }
  return identifier_status::ok;
}

std::string quoted(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

identifier_status check_sql_identifier(std::string_view name) noexcept {
  const auto shape = check_shape(name);
  if (shape != identifier_status::ok) return shape;
  return is_reserved(name) ? identifier_status::reserved : identifier_status::ok;
}

std::optional<std::string> quote_sql_identifier(std::string_view name) {
  if (check_sql_identifier(name) != identifier_status::ok) return std::nullopt;
  return quoted(name);
}

std::string order_by_map::choice::sql() const {
  std::string out;
  std::string_view rest = column;
  while (true) {
    const auto dot = rest.find('.');
    out += quoted(rest.substr(0, dot));
    if (dot == std::string_view::npos) break;
    out.push_back('.');
    rest.remove_prefix(dot + 1);
  }
  out += descending ? " DESC" : " ASC";
  return out;
}

order_by_map::order_by_map(std::initializer_list<std::pair<std::string, std::string>> columns,
                           std::string default_key, bool default_descending)
    : columns_(columns), default_descending_(default_descending) {
  if (columns_.empty())
    throw config_error("order_by_map: no columns; give at least one key and its column");
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    const auto& [key, column] = columns_[i];
    if (key.empty() || key.front() == '-' || key.find(':') != std::string::npos)
      throw config_error("order_by_map: key '" + key +
                         "' is empty or starts with '-' or contains ':'; rename it");
    for (std::size_t j = 0; j < i; ++j)
      if (columns_[j].first == key)
        throw config_error("order_by_map: key '" + key + "' appears twice; keep one");
    std::string_view rest = column;
    while (true) {
      const auto dot = rest.find('.');
      if (check_shape(rest.substr(0, dot)) != identifier_status::ok)
        throw config_error("order_by_map: column '" + column + "' of key '" + key +
                           "' is not dotted [a-z_][a-z0-9_]* names of at most 63 bytes; "
                           "write it as PostgreSQL folds it (lower case)");
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
  }
  const auto it = std::find_if(columns_.begin(), columns_.end(),
                               [&](const auto& c) { return c.first == default_key; });
  if (it == columns_.end())
    throw config_error("order_by_map: default key '" + default_key +
                       "' is not one of the keys; use one of them");
  default_index_ = static_cast<std::size_t>(it - columns_.begin());
}

order_by_map::choice order_by_map::resolve(std::string_view requested) const noexcept {
  bool descending = false;
  std::string_view key = requested;
  if (!key.empty() && key.front() == '-') {
    descending = true;
    key.remove_prefix(1);
  } else if (const auto colon = key.find(':'); colon != std::string_view::npos) {
    const auto direction = key.substr(colon + 1);
    key = key.substr(0, colon);
    if (direction == "desc") {
      descending = true;
    } else if (direction != "asc") {
      key = {};  // an unknown direction is not accepted
    }
  }
  for (const auto& [k, column] : columns_)
    if (!key.empty() && k == key) return {k, column, descending, false};
  const auto& [k, column] = columns_[default_index_];
  return {k, column, default_descending_, true};
}

// ---------------------------------------------------------------------------
// File names

namespace {

bool is_separator_like(char32_t cp) noexcept {
  return cp == '/' || cp == '\\' || cp == 0x2215 || cp == 0x2044 || cp == 0x29F8 || cp == 0xFF0F ||
         cp == 0xFF3C;
}

bool is_windows_invalid(char32_t cp) noexcept {
  return cp == ':' || cp == '<' || cp == '>' || cp == '"' || cp == '|' || cp == '?' || cp == '*';
}

// CON, PRN, AUX, NUL, COM0-9, LPT0-9, CONIN$, CONOUT$, CLOCK$ (Windows
// refuses them as a base name, with any extension, and with spaces before
// the extension). Superscript digits are folded by NFKC before this.
bool is_windows_device(std::string_view name) noexcept {
  std::string_view base = name.substr(0, name.find('.'));
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  std::string lower;
  for (char c : base) lower.push_back(detail::ascii_lower(c));
  static constexpr std::array<std::string_view, 7> fixed = {"con",    "prn",     "aux",   "nul",
                                                            "conin$", "conout$", "clock$"};
  if (std::find(fixed.begin(), fixed.end(), lower) != fixed.end()) return true;
  return lower.size() == 4 && (lower.starts_with("com") || lower.starts_with("lpt")) &&
         lower[3] >= '0' && lower[3] <= '9';
}

std::string_view strip_ends(std::string_view name) {
  name = trim_by(
      name, [](char32_t cp) { return cp == '.' || cp == '-' || is_white_space(cp); }, true, false);
  return trim_by(
      name, [](char32_t cp) { return cp == '.' || is_white_space(cp); }, false, true);
}

// Cuts valid UTF-8 `name` to `max` bytes, keeping an extension of at most
// 16 bytes when there is one.
std::string cut_name(std::string_view name, std::size_t max) {
  if (name.size() <= max) return std::string(name);
  const auto dot = name.rfind('.');
  if (dot != std::string_view::npos && dot > 0 && name.size() - dot <= 16) {
    const auto ext = name.substr(dot);
    const auto base = name.substr(0, dot);
    return std::string(base.substr(0, byte_prefix(base, max - ext.size()))) + std::string(ext);
  }
  return std::string(name.substr(0, byte_prefix(name, max)));
}

std::string filename_core(std::string_view input, const filename_options& options) {
  // Repair, then NFKC: a fullwidth solidus or colon must be seen as the
  // character it becomes before the checks below.
  std::string text;
  repair_utf8(input, text, options.replacement, false);
  text = normalized(text, normalization::nfkc);

  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const auto step = decode_utf8(text, at);
    const char32_t cp = step.code_point;
    if (is_separator_like(cp) || is_windows_invalid(cp)) {
      out += options.replacement;
    } else if (!is_control(cp) && !is_bidi_control(cp) && !is_zero_width(cp)) {
      out.append(text, at, step.length);
    }
    at += step.length;
  }

  std::string name = cut_name(strip_ends(out), options.max_bytes);
  name = std::string(strip_ends(name));
  if (is_windows_device(name)) {
    name = cut_name("_" + name, options.max_bytes);
    name = std::string(strip_ends(name));
  }
  return name;
}

void check_filename_options(const filename_options& options) {
  if (options.max_bytes < 32)
    throw config_error("sanitize_filename: max_bytes is below 32; give at least 32 bytes");
  const auto check_piece = [&](const std::string& value, const char* option) {
    if (value.empty() || !detail::is_valid_utf8(value) ||
        normalized(value, normalization::nfkc) != value)
      throw config_error(std::string("sanitize_filename: ") + option +
                         " must be non-empty NFKC-normalized UTF-8; use \"_\"");
    for (std::size_t at = 0; at < value.size();) {
      const auto step = decode_utf8(value, at);
      const char32_t cp = step.code_point;
      if (is_separator_like(cp) || is_windows_invalid(cp) || is_control(cp) ||
          is_bidi_control(cp) || is_zero_width(cp))
        throw config_error(std::string("sanitize_filename: ") + option +
                           " contains a character that file names cannot hold; use \"_\"");
      at += step.length;
    }
  };
  check_piece(options.replacement, "replacement");
  check_piece(options.fallback, "fallback");
  filename_options plain = options;
  plain.fallback = "file";
  if (filename_core(options.fallback, plain) != options.fallback)
    throw config_error(
        "sanitize_filename: fallback is not itself a safe file name (leading dot or dash, "
        "device name, or too long); use \"file\"");
}

}  // namespace

std::string sanitize_filename(std::string_view input, const filename_options& options) {
  check_filename_options(options);
  std::string name = filename_core(input, options);
  if (name.empty()) return options.fallback;
  return name;
}

}  // namespace portcullis
