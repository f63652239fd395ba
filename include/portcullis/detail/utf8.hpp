// portcullis/detail/utf8.hpp — strict UTF-8 decoding and Unicode
// normalization for the sanitizers. Private: not part of the public API.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::detail {

/// One decoded code point and the number of bytes it took. `length` is at
/// least 1 even for an invalid sequence, so that a caller always advances.
struct utf8_step {
  char32_t code_point;  // only meaningful when `valid`
  std::size_t length;
  bool valid;
};

/// Decodes the sequence at `text[at]` (at < text.size()). Refuses what
/// RFC 3629 refuses: overlong forms (C0 80 for NUL), surrogates (ED A0 80),
/// values above U+10FFFF, stray continuation bytes and truncated sequences.
/// An invalid sequence is reported with the length of its maximal valid
/// prefix (at least 1), as the WHATWG encoding standard replaces it.
utf8_step decode_utf8(std::string_view text, std::size_t at) noexcept;

/// Appends the UTF-8 encoding of `cp` (a valid scalar value).
void append_utf8(std::string& out, char32_t cp);

/// True when `text` is valid UTF-8 as decode_utf8() defines it.
bool is_valid_utf8(std::string_view text) noexcept;

/// Unicode normalization forms that the sanitizers offer.
enum class normal_form { nfc, nfkc };

/// Normalizes valid UTF-8 `text` with utf8proc. Returns nullopt when
/// utf8proc refuses the text (it only does so for invalid UTF-8 or memory
/// exhaustion).
std::optional<std::string> normalize_utf8(std::string_view text, normal_form form);

}  // namespace portcullis::detail
