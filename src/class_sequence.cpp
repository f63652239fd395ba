// A class sequence: the parser of its RE2 subset, and the shift-and match.
#include "portcullis/detail/class_sequence.hpp"

#include "portcullis/detail/ascii.hpp"

#include <bitset>
#include <vector>

namespace portcullis::detail {
namespace {

using byte_set = std::bitset<128>;

// Characters with a meaning of their own in RE2 syntax.
constexpr std::string_view meta = "\\.+*?()|[]{}^$";

// Printable ASCII that stands for itself outside a class.
bool is_plain(char c) noexcept {
  return c >= 0x20 && c < 0x7f && meta.find(c) == std::string_view::npos;
}

// The largest count RE2 accepts in {n,m}.
constexpr std::size_t max_count = 1000;

struct position {
  byte_set bytes;
  bool optional;
  bool repeats;
};

// Reads the pattern left to right; every method returns false on anything
// outside the subset, and the caller gives up.
class parser {
 public:
  explicit parser(std::string_view p) : p_(p) {}

  bool parse(std::vector<position>& out) {
    while (at_ < p_.size()) {
      byte_set atom;
      if (!parse_atom(atom)) return false;
      std::size_t low = 1, high = 1;
      if (!parse_count(low, high)) return false;
      // x{n,m}: n positions, then m - n that may be left out; x{n,}: n,
      // then one that may be left out and may repeat.
      for (std::size_t i = 0; i < low; ++i) out.push_back({atom, false, false});
      if (high == unbounded)
        out.push_back({atom, true, true});
      else
        for (std::size_t i = low; i < high; ++i) out.push_back({atom, true, false});
      if (out.size() > 63) return false;
    }
    return true;
  }

 private:
  static constexpr std::size_t unbounded = static_cast<std::size_t>(-1);

  bool parse_atom(byte_set& atom) {
    char c = p_[at_];
    if (c == '[') return parse_class(atom);
    if (c == '\\') return parse_escape(atom);
    if (!is_plain(c)) return false;
    atom.set(static_cast<unsigned char>(c));
    ++at_;
    return true;
  }

  // \d, \w (ASCII in RE2) and escaped punctuation.
  bool parse_escape(byte_set& atom) {
    if (at_ + 1 >= p_.size()) return false;
    char c = p_[at_ + 1];
    at_ += 2;
    if (c == 'd') {
      add_range(atom, '0', '9');
    } else if (c == 'w') {
      add_range(atom, '0', '9');
      add_range(atom, 'A', 'Z');
      add_range(atom, 'a', 'z');
      atom.set('_');
    } else if (meta.find(c) != std::string_view::npos || c == '-') {
      atom.set(static_cast<unsigned char>(c));
    } else {
      return false;
    }
    return true;
  }

  // [...] with single characters, ranges a-z, \d, \w and escaped
  // punctuation; '-' only first or last. Not negated, no POSIX classes.
  bool parse_class(byte_set& atom) {
    ++at_;  // '['
    bool first = true;
    while (at_ < p_.size() && p_[at_] != ']') {
      char c = p_[at_];
      if (c == '^' && first) return false;
      if (c == '[') return false;
      if (c == '-') {
        bool last = at_ + 1 < p_.size() && p_[at_ + 1] == ']';
        if (!first && !last) return false;
        atom.set('-');
        ++at_;
      } else if (c == '\\') {
        if (!parse_escape(atom)) return false;
      } else {
        if (c < 0x20 || c >= 0x7f) return false;
        ++at_;
        if (at_ + 1 < p_.size() && p_[at_] == '-' && p_[at_ + 1] != ']') {
          char high = p_[at_ + 1];
          if (high < 0x20 || high >= 0x7f || high == '\\' || high == '[' || high < c) return false;
          add_range(atom, c, high);
          at_ += 2;
        } else {
          atom.set(static_cast<unsigned char>(c));
        }
      }
      first = false;
    }
    if (first || at_ >= p_.size()) return false;  // "[]..." or no ']'
    ++at_;                                        // ']'
    return true;
  }

  // ?, *, +, {n}, {n,}, {n,m}, or nothing; non-greedy forms are refused.
  bool parse_count(std::size_t& low, std::size_t& high) {
    if (at_ >= p_.size()) return true;
    char c = p_[at_];
    if (c == '?') {
      low = 0, high = 1;
    } else if (c == '*') {
      low = 0, high = unbounded;
    } else if (c == '+') {
      low = 1, high = unbounded;
    } else if (c == '{') {
      ++at_;
      if (!parse_number(low)) return false;
      high = low;
      if (at_ < p_.size() && p_[at_] == ',') {
        ++at_;
        high = unbounded;
        if (at_ < p_.size() && p_[at_] != '}' && !parse_number(high)) return false;
      }
      if (at_ >= p_.size() || p_[at_] != '}' || high < low) return false;
    } else {
      return true;
    }
    ++at_;
    // A second operator (x*?, x{2}{3}) is not in the subset.
    return at_ >= p_.size() || std::string_view("?*+{").find(p_[at_]) == std::string_view::npos;
  }

  // RE2 reads "{08}" as literal text, not a count (it refuses leading
  // zeros); so is "{1001}" (past its maximum). Both are refused here.
  bool parse_number(std::size_t& n) {
    std::size_t from = at_;
    n = 0;
    while (at_ < p_.size() && is_ascii_digit(p_[at_]) && at_ - from < 4)
      n = n * 10 + static_cast<std::size_t>(p_[at_++] - '0');
    bool leading_zero = at_ - from > 1 && p_[from] == '0';
    return at_ > from && !leading_zero && n <= max_count;
  }

  static void add_range(byte_set& s, char low, char high) {
    for (int c = low; c <= high; ++c) s.set(static_cast<std::size_t>(c));
  }

  std::string_view p_;
  std::size_t at_ = 0;
};

}  // namespace

std::optional<class_sequence> class_sequence::compile(std::string_view pattern) {
  std::vector<position> positions;
  if (!parser(pattern).parse(positions)) return std::nullopt;

  class_sequence seq;
  seq.positions_ = positions.size();
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const std::uint64_t bit = std::uint64_t{1} << (i + 1);
    for (std::size_t c = 0; c < 128; ++c)
      if (positions[i].bytes.test(c)) seq.fills_[c] |= bit;
    if (positions[i].optional) seq.optional_ |= bit;
    if (positions[i].repeats) seq.repeats_ |= bit;
  }
  return seq;
}

namespace {

// The optional positions, as their runs: `all` of them, the position
// `before` each run (the first position one down) and the `last` of each.
struct optional_runs {
  std::uint64_t all, before, last;
  explicit optional_runs(std::uint64_t optional) noexcept
      : all(optional),
        before((optional & ~(optional << 1)) >> 1),
        last(optional & ~(optional >> 1)) {}
};

// `state` with every position it may pass over added: after position i,
// an optional position i + 1 may be left out, and so on along a run of
// them. One subtraction does it for every run, where a loop took a step
// per position. Take the state with each run's `last` bit set, so that no
// borrow leaves a run, and subtract the `before` bits: in each run this
// changes the bits from `before` up to the lowest live one at or above it,
// and none above. The run's bits above that live one are the ones it
// reaches, so they are the run's bits left as they were (all of the run
// when `before` itself is live: then only that bit changes).
std::uint64_t close_over(std::uint64_t state, const optional_runs& runs) noexcept {
  const std::uint64_t marked = state | runs.last;
  return state | (runs.all & ~((marked - runs.before) ^ marked));
}

}  // namespace

bool class_sequence::full_match(std::string_view text) const noexcept {
  const optional_runs runs(optional_);
  std::uint64_t state = close_over(1, runs);
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= fills_.size()) return false;
    // Each live position moves on to the next one, or stays where it
    // repeats, when the byte is in that position's class.
    state = ((state << 1) | (state & repeats_)) & fills_[c];
    if (state == 0) return false;
    state = close_over(state, runs);
  }
  return (state >> positions_) & 1;
}

}  // namespace portcullis::detail
