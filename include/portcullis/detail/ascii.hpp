// portcullis/detail/ascii.hpp — ASCII character classes, case folding and
// case-insensitive comparison, the same in every locale. Private to the
// library.
//
// HTTP spells its syntax in ASCII: methods and header names are tokens
// (RFC 9110 §5.6.2), header names, schemes and hosts compare without case
// (RFC 9110 §5.1, RFC 3986 §6.2.2.1). std::tolower and std::isalpha follow
// whatever C locale the program has set (in tr_TR, 'I' lowers to a dotless
// i outside ASCII) and cost a call per character; these are comparisons the
// compiler folds away. Bytes from 0x80 up are never letters, digits or
// token characters here, and case folding leaves them as they are.
//
//   if (detail::iequals(name, "content-length")) ...
//   if (!detail::is_token(method)) return bad("malformed request line");
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace portcullis::detail {

constexpr bool is_ascii_upper(char c) noexcept {
  return c >= 'A' && c <= 'Z';
}
constexpr bool is_ascii_lower(char c) noexcept {
  return c >= 'a' && c <= 'z';
}
constexpr bool is_ascii_alpha(char c) noexcept {
  return is_ascii_upper(c) || is_ascii_lower(c);
}
constexpr bool is_ascii_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
constexpr bool is_ascii_alnum(char c) noexcept {
  return is_ascii_alpha(c) || is_ascii_digit(c);
}
constexpr bool is_ascii_xdigit(char c) noexcept {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/// Space, tab, LF, VT, FF and CR: what std::isspace accepts in the "C"
/// locale.
constexpr bool is_ascii_space(char c) noexcept {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

/// 'A'-'Z' to 'a'-'z'; every other byte as it is.
constexpr char ascii_lower(char c) noexcept {
  return is_ascii_upper(c) ? static_cast<char>(c + ('a' - 'A')) : c;
}

/// 'a'-'z' to 'A'-'Z'; every other byte as it is.
constexpr char ascii_upper(char c) noexcept {
  return is_ascii_lower(c) ? static_cast<char>(c - ('a' - 'A')) : c;
}

/// tchar (RFC 9110 §5.6.2), indexed by the byte as unsigned char.
inline constexpr std::array<bool, 256> tchar_table = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = is_ascii_alnum(static_cast<char>(c));
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

/// A character of an RFC 9110 token: letters, digits and !#$%&'*+-.^_`|~.
constexpr bool is_tchar(char c) noexcept {
  return tchar_table[static_cast<unsigned char>(c)];
}

/// An RFC 9110 token (a method, a header name): one or more tchars.
constexpr bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

/// ASCII case-insensitive equality; bytes from 0x80 up must match exactly.
/// Not beast::iequals: Boost 1.81's reads one byte past the end of both
/// strings when they differ only in case (found by fuzzing the CORS origin
/// check: an Origin ending in "exAmple.org" at the end of its buffer).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

/// `s` begins with `prefix`, ASCII case-insensitively.
constexpr bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

/// `s` ends with `suffix`, ASCII case-insensitively.
constexpr bool iends_with(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

/// Lowers 'A'-'Z' in place.
constexpr void ascii_lower_in_place(std::string& s) noexcept {
  for (char& c : s) c = ascii_lower(c);
}

/// Raises 'a'-'z' in place.
constexpr void ascii_upper_in_place(std::string& s) noexcept {
  for (char& c : s) c = ascii_upper(c);
}

/// `s` without its leading and trailing optional white space: spaces and
/// horizontal tabs (OWS, RFC 9110 §5.6.3), as around header list items and
/// parameters.
constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// One or more of 'a'-'z', '0'-'9' and '_': the words that rate-limit
/// names and metric names are made of (safe in a Redis key and in a
/// Prometheus name without escaping).
constexpr bool is_lower_snake_word(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (!(is_ascii_lower(c) || is_ascii_digit(c) || c == '_')) return false;
  return true;
}

/// A copy of `s` with 'A'-'Z' lowered.
inline std::string to_ascii_lower(std::string_view s) {
  std::string out(s);
  ascii_lower_in_place(out);
  return out;
}

}  // namespace portcullis::detail
