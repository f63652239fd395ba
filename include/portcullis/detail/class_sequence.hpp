// portcullis/detail/class_sequence.hpp — an exact, allocation-free matcher
// for the regexes that schemas use most: a run of ASCII character classes,
// each repeated a fixed or bounded number of times. Private to the library.
//
// RE2 takes about 45 ns to match a short string like "PQR-700001"
// against "[A-Z]{3}-[0-9]{1,6}" (perf on the order payload of
// bench/validation_bench.cpp: its 20 matches were a third of the time that
// validation took). A class sequence keeps one bit per position of the
// expanded pattern and advances all of them with a shift and an AND per
// byte (the shift-and algorithm, with positions that may be left out or
// repeated), so a match costs a few nanoseconds.
//
//   auto seq = class_sequence::compile("[A-Z]{3}-[0-9]{1,6}");
//   if (seq && seq->full_match("ABC-123")) ...
//
// compile() accepts only what it can match exactly as RE2::FullMatch does
// with default options, and says no to everything else, which RE2 then
// matches: groups, alternation, anchors, flags, '.', negated classes,
// POSIX classes, escapes other than \d, \w and escaped metacharacters,
// non-greedy or repeated repetition, counts RE2 reads as text ("{08}"),
// non-ASCII characters, and patterns that expand to more than 63
// positions ("[a-z]{1,100}" does).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace portcullis::detail {

class class_sequence {
 public:
  /// The matcher for `pattern` (RE2 syntax, matched against the whole
  /// text), or nullopt when the pattern is outside the subset above. Does
  /// not validate the pattern: compile it with RE2 first.
  static std::optional<class_sequence> compile(std::string_view pattern);

  /// True when the whole of `text` matches, exactly when
  /// RE2::FullMatch(text, pattern) would be. Bytes from 0x80 up never
  /// match, as no position's class holds one.
  bool full_match(std::string_view text) const noexcept;

  /// Positions of the expanded pattern ("[A-Z]{3}-[0-9]{1,6}" has 10).
  std::size_t positions() const noexcept { return positions_; }

 private:
  class_sequence() = default;

  // Bit 0 is the start, before any position; bit i (1..63) is "position i
  // was the last one filled".
  std::array<std::uint64_t, 128> fills_{};  // per byte: the positions it may fill
  std::uint64_t optional_ = 0;              // positions that may be left out
  std::uint64_t repeats_ = 0;               // positions that may take more bytes
  std::size_t positions_ = 0;
};

}  // namespace portcullis::detail
