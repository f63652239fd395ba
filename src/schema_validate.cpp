// Validating values against schemas: the strict table for JSON, the lax
// table for query strings and forms, and the issues both report.
#include "portcullis/schema.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/detail/schema_node.hpp"
#include "portcullis/errc.hpp"

#include <re2/re2.h>
#include <utf8proc.h>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace portcullis {

using detail::schema_kind;
using detail::schema_node;
using json = nlohmann::json;

namespace detail {

std::string_view kind_word(const schema_node& n) noexcept {
  switch (n.kind) {
    case schema_kind::any:
      return "any";
    case schema_kind::string:
      return "string";
    case schema_kind::number:
      return "number";
    case schema_kind::integer:
      return "int";
    case schema_kind::boolean:
      return "boolean";
    case schema_kind::null:
      return "null";
    case schema_kind::enumeration:
      return "enum";
    case schema_kind::literal:
      return "literal";
    case schema_kind::array:
      return "array";
    case schema_kind::tuple:
      return "tuple";
    case schema_kind::object:
      return "object";
    case schema_kind::record:
      return "record";
    case schema_kind::union_of:
      return "union";
  }
  return "any";
}

}  // namespace detail

namespace {

__extension__ typedef __int128 int128;

// The most bytes of input an issue ever quotes.
constexpr std::size_t max_quote = 64;

// `s` cut to at most max_quote bytes, on a UTF-8 boundary.
std::string_view bounded(std::string_view s) {
  if (s.size() <= max_quote) return s;
  std::size_t n = max_quote;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string_view type_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    case json::value_t::number_float: {
      double d = v.get<double>();
      if (std::isnan(d)) return "NaN";
      if (std::isinf(d)) return "Infinity";
      return "number";
    }
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "number";
    default:
      return "unknown";
  }
}

// A number as a JSON value: whole numbers as integers (so that bounds read
// "12", not "12.0").
json number_json(double x) {
  if (x == std::floor(x) && std::fabs(x) < 9007199254740992.0) return static_cast<std::int64_t>(x);
  return x;
}

std::string number_text(double x) {
  return number_json(x).dump();
}

json int128_json(int128 x) {
  if (x < 0) return static_cast<std::int64_t>(x);
  return static_cast<std::uint64_t>(x);
}

// A number's value, read straight from the json by its type; get<T>() goes
// through nlohmann's generic conversion, a switch and a throw path per
// call (about 4 % of validating the order payload, callgrind). Unsigned before
// signed: nlohmann's is_number_integer() is true for both, and its
// number_integer_t pointer then reads an unsigned value as signed.
double number_value(const json& v) noexcept {
  if (const auto* f = v.get_ptr<const json::number_float_t*>()) return *f;
  if (const auto* u = v.get_ptr<const json::number_unsigned_t*>()) return static_cast<double>(*u);
  return static_cast<double>(*v.get_ptr<const json::number_integer_t*>());
}

// Every byte but the continuation bytes (10xxxxxx) starts a code point.
// Counted eight bytes at a time: byte by byte, this loop was half of the
// time that validating the sign-up body took (perf).
std::size_t code_points(std::string_view s) noexcept {
  constexpr std::uint64_t high_bits = 0x8080808080808080u;
  std::size_t continuation = 0, i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    // Bit 7 of each byte where bit 6 (moved up by the shift) is clear,
    // moved down to bit 0; the multiplication sums the eight bytes into
    // the top one (std::popcount is a library call without -mpopcnt).
    const std::uint64_t marks = (w & ~(w << 1) & high_bits) >> 7;
    continuation += static_cast<std::size_t>((marks * 0x0101010101010101u) >> 56);
  }

  // The last 0-7 bytes: four, two and one at a time, rather than a loop
  // whose exit depends on the length (most strings are short).
  const std::size_t rest = s.size() - i;
  auto continues = [&](std::size_t at) {
    return static_cast<std::size_t>((static_cast<unsigned char>(s[at]) & 0xC0) == 0x80);
  };
  if (rest & 4) {
    std::uint32_t w;
    std::memcpy(&w, s.data() + i, 4);
    const std::uint32_t marks = (w & ~(w << 1) & 0x80808080u) >> 7;
    continuation += static_cast<std::size_t>((marks * 0x01010101u) >> 24);
    i += 4;
  }
  if (rest & 2) {
    continuation += continues(i) + continues(i + 1);
    i += 2;
  }
  if (rest & 1) continuation += continues(i);
  return s.size() - continuation;
}

// ---------------------------------------------------------------------------
// Where we are, and what was found.

// Trivially constructible (no string_view member), so that run_state's
// array of them costs nothing to create: it is filled as the run descends.
struct path_segment {
  const char* key_data;
  std::size_t key_size;
  std::size_t index;
  bool is_index;
  std::string_view key() const noexcept { return {key_data, key_size}; }
};

class run_state {
 public:
  // One issue past the cap is collected, so that finish() can tell a full
  // list from a truncated one.
  run_state(std::vector<issue>& out, std::size_t max_issues)
      : out_(out), cap_(max_issues == 0 ? 1 : max_issues), max_(cap_ + 1) {}

  // Trims the list to the cap; true when issues were left out.
  bool finish() {
    if (out_.size() > cap_) {
      out_.resize(cap_);
      truncated_ = true;
    }
    return truncated_;
  }

  bool full() const noexcept { return out_.size() >= max_; }
  bool truncated() const noexcept { return truncated_; }

  void push(std::string_view key) noexcept { push({key.data(), key.size(), 0, false}); }
  void push(std::size_t index) noexcept { push({nullptr, 0, index, true}); }
  void pop() noexcept {
    if (overflow_ > 0)
      --overflow_;
    else
      --depth_;
  }

  void report(std::string_view code, std::string message, json params = json::object()) {
    if (full()) {
      truncated_ = true;
      return;
    }
    out_.push_back({path(), code, std::move(message), std::move(params)});
  }

  std::string path() const {
    std::string p;
    for (std::size_t i = 0; i < depth_; ++i) {
      if (i > 0) p += '.';
      const auto& s = path_[i];
      if (s.is_index)
        p += std::to_string(s.index);
      else
        p += bounded(s.key());
    }
    return p;
  }

  // Union options run against a scratch list of issues.
  std::vector<issue>& out() noexcept { return out_; }

 private:
  void push(path_segment s) noexcept {
    // Schemas nest at most max_schema_depth levels, each adding at most one
    // segment; the guard only keeps a bug from writing past the array.
    if (depth_ < path_.size())
      path_[depth_++] = s;
    else
      ++overflow_;
  }

  std::vector<issue>& out_;
  std::size_t cap_;
  std::size_t max_;
  bool truncated_ = false;
  std::array<path_segment, detail::max_schema_depth + 8> path_;  // no zeroing: per call
  std::size_t depth_ = 0;
  std::size_t overflow_ = 0;
};

// A scratch state for one union option, sharing the caller's path.
class scoped_segment {
 public:
  template <class K>
  scoped_segment(run_state& st, K key) : st_(st) {
    st_.push(key);
  }
  ~scoped_segment() { st_.pop(); }
  scoped_segment(const scoped_segment&) = delete;
  scoped_segment& operator=(const scoped_segment&) = delete;

 private:
  run_state& st_;
};

// ---------------------------------------------------------------------------
// Issues with their Zod 4 parameters. Cold: out of the way of the checks
// that pass, which keeps the frames of run() and its kinds small.

[[gnu::cold]] void invalid_type(run_state& st, const schema_node& n, std::string_view received) {
  std::string expected(detail::kind_word(n));
  st.report("invalid_type", "expected " + expected + ", received " + std::string(received),
            {{"expected", expected}, {"received", received}});
}

[[gnu::cold]] void required(run_state& st, const schema_node& n) {
  std::string expected(detail::kind_word(n));
  st.report("invalid_type", "required: expected " + expected + ", received undefined",
            {{"expected", expected}, {"received", "undefined"}});
}

[[gnu::cold]] void length_issue(run_state& st, bool small, std::string_view origin,
                                std::size_t bound, bool exact) {
  std::string what = origin == "string" ? " characters" : " elements";
  std::string how = exact ? "exactly " : small ? "at least " : "at most ";
  json params = {{"origin", origin}, {small ? "minimum" : "maximum", bound}, {"inclusive", true}};
  if (exact) params["exact"] = true;
  st.report(small ? "too_small" : "too_big", "must have " + how + std::to_string(bound) + what,
            std::move(params));
}

[[gnu::cold]] void bound_issue(run_state& st, bool small, std::string_view origin,
                               const json& bound, bool inclusive, std::string note = {}) {
  std::string op = small ? (inclusive ? ">= " : "> ") : (inclusive ? "<= " : "< ");
  st.report(small ? "too_small" : "too_big",
            "must be " + op + bound.dump() + (note.empty() ? "" : " (" + note + ")"),
            {{"origin", origin}, {small ? "minimum" : "maximum", bound}, {"inclusive", inclusive}});
}

[[gnu::cold]] void number_bound_issue(run_state& st, bool small, std::string_view origin,
                                      double bound, bool inclusive) {
  bound_issue(st, small, origin, number_json(bound), inclusive);
}

[[gnu::cold]] void format_issue(run_state& st, std::string_view format, std::string message,
                                json extra = json::object()) {
  extra["origin"] = "string";
  extra["format"] = format;
  st.report("invalid_format", std::move(message), std::move(extra));
}

std::string values_text(const std::vector<json>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size() && i < 10; ++i) {
    if (i > 0) out += ", ";
    out += std::string(bounded(values[i].dump()));
  }
  if (values.size() > 10) out += ", …";
  return out;
}

// ---------------------------------------------------------------------------
// String formats.

using detail::is_ascii_alnum;
using detail::is_ascii_alpha;
using detail::is_ascii_xdigit;

// What each byte may be in an email address, as bits: a part is checked
// by and-ing the bits of its bytes (one table load per byte, no branch),
// rather than by testing each byte against its classes in turn.
enum email_byte : std::uint8_t {
  local_byte = 1,  // RFC 5322 atext, or a dot
  host_byte = 2,   // letters, digits and the hyphen
  alpha_byte = 4,  // letters (the top-level label)
  dot_byte = 8,
};

constexpr auto email_table = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 128; ++c) {
    const auto ch = static_cast<char>(c);
    if (is_ascii_alnum(ch)) t[c] = local_byte | host_byte;
    if (is_ascii_alpha(ch)) t[c] |= alpha_byte;
  }
  for (unsigned char c : std::string_view("!#$%&'*+-/=?^_`{|}~")) t[c] |= local_byte;
  t['-'] |= host_byte;
  t['.'] = local_byte | dot_byte;
  return t;
}();

bool valid_email(std::string_view s) {
  // Neither part may hold an '@', so the first one is the only one; a
  // second one fails the host's checks.
  const auto at = s.find('@');
  if (at == std::string_view::npos || at == 0 || at > 64) return false;
  std::string_view local = s.substr(0, at), host = s.substr(at + 1);
  if (host.empty() || host.size() > 253) return false;

  // Local part: dot-atom, no leading, trailing or doubled dots. `pairs`
  // has the dot bit when two dots follow each other.
  std::uint8_t all = 0xFF, pairs = 0, prev = 0;
  for (unsigned char c : local) {
    const std::uint8_t k = email_table[c];
    all &= k;
    pairs |= k & prev;
    prev = k;
  }
  if (!(all & local_byte) || (pairs & dot_byte) || local.front() == '.' || local.back() == '.')
    return false;

  // Host: at least two labels of letters, digits and inner hyphens; the
  // last label is at least two letters. One pass, a label checked at the
  // dot that ends it (finding each dot with memchr cost a call per label).
  auto label_ok = [&](std::size_t from, std::size_t to, std::uint8_t bits) {
    return to > from && to - from <= 63 && host[from] != '-' && host[to - 1] != '-' &&
           (bits & host_byte);
  };
  std::size_t start = 0;
  std::uint8_t label = 0xFF;  // the bits of the current label's bytes
  for (std::size_t i = 0; i < host.size(); ++i) {
    const std::uint8_t k = email_table[static_cast<unsigned char>(host[i])];
    if (k & dot_byte) {
      if (!label_ok(start, i, label)) return false;
      start = i + 1;
      label = 0xFF;
    } else {
      label &= k;
    }
  }
  return start > 0 && label_ok(start, host.size(), label) && host.size() - start >= 2 &&
         (label & alpha_byte);
}

bool valid_url(std::string_view s, const std::vector<std::string>& schemes) {
  auto r = boost::urls::parse_uri(s);
  if (!r) return false;
  if (!r->has_authority() || r->encoded_host().empty()) return false;
  std::string scheme = detail::to_ascii_lower(r->scheme());
  return std::find(schemes.begin(), schemes.end(), scheme) != schemes.end();
}

bool valid_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < 36; ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-')) return false;
    if (!dash && !is_ascii_xdigit(s[i])) return false;
  }
  if (s == "00000000-0000-0000-0000-000000000000") return true;
  if (s == "ffffffff-ffff-ffff-ffff-ffffffffffff" || s == "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")
    return true;
  char version = s[14];
  char variant = detail::ascii_lower(s[19]);
  return version >= '1' && version <= '8' && std::strchr("89ab", variant) != nullptr;
}

// ---------------------------------------------------------------------------
// String transforms (on valid UTF-8; invalid bytes are left alone).

bool is_white_space(utf8proc_int32_t c) {
  if (c == '\t' || c == '\n' || c == 0x0B || c == '\f' || c == '\r' || c == 0x85 || c == 0xFEFF)
    return true;
  auto cat = utf8proc_category(c);
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

void trim_in_place(std::string& s) {
  // Leading.
  std::size_t begin = 0;
  while (begin < s.size()) {
    utf8proc_int32_t c;
    auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + begin),
                              static_cast<utf8proc_ssize_t>(s.size() - begin), &c);
    if (n <= 0 || !is_white_space(c)) break;
    begin += static_cast<std::size_t>(n);
  }
  // Trailing: walk forward, remembering where the last non-space ended.
  std::size_t end = begin, at = begin;
  while (at < s.size()) {
    utf8proc_int32_t c;
    auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + at),
                              static_cast<utf8proc_ssize_t>(s.size() - at), &c);
    if (n <= 0) {
      end = s.size();
      break;
    }
    at += static_cast<std::size_t>(n);
    if (!is_white_space(c)) end = at;
  }
  if (begin > 0 || end < s.size()) s = s.substr(begin, end - begin);
}

void case_in_place(std::string& s, detail::case_map how) {
  bool ascii = std::all_of(s.begin(), s.end(), [](char c) { return (c & 0x80) == 0; });
  if (ascii) {
    if (how == detail::case_map::lower)
      detail::ascii_lower_in_place(s);
    else
      detail::ascii_upper_in_place(s);
    return;
  }
  std::string out;
  out.reserve(s.size());
  std::size_t at = 0;
  while (at < s.size()) {
    utf8proc_int32_t c;
    auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + at),
                              static_cast<utf8proc_ssize_t>(s.size() - at), &c);
    if (n <= 0) return;  // not UTF-8: leave as it was
    at += static_cast<std::size_t>(n);
    c = how == detail::case_map::lower ? utf8proc_tolower(c) : utf8proc_toupper(c);
    utf8proc_uint8_t buf[4];
    auto len = utf8proc_encode_char(c, buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(len));
  }
  s = std::move(out);
}

// ---------------------------------------------------------------------------
// The lax table: text to a JSON value of the node's kind.

// The decimal grammar: -?digits(.digits)?([eE][+-]?digits)?, no spaces.
bool is_decimal(std::string_view t) {
  std::size_t i = 0;
  if (i < t.size() && t[i] == '-') ++i;
  auto digits = [&] {
    std::size_t from = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > from;
  };
  if (!digits()) return false;
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

enum class lax { ok, not_this_type, out_of_range };

// Texts for booleans: these eight and nothing else.
lax text_to_bool(std::string_view t, json& out) {
  static constexpr std::array<std::string_view, 4> yes{"true", "1", "yes", "on"};
  static constexpr std::array<std::string_view, 4> no{"false", "0", "no", "off"};
  if (std::find(yes.begin(), yes.end(), t) != yes.end()) {
    out = true;
    return lax::ok;
  }
  if (std::find(no.begin(), no.end(), t) != no.end()) {
    out = false;
    return lax::ok;
  }
  return lax::not_this_type;
}

lax text_to_number(std::string_view t, json& out) {
  if (!is_decimal(t)) return lax::not_this_type;
  double d = 0;
  auto r = std::from_chars(t.data(), t.data() + t.size(), d);
  if (r.ec == std::errc::result_out_of_range || !std::isfinite(d)) return lax::out_of_range;
  if (r.ec != std::errc{} || r.ptr != t.data() + t.size()) return lax::not_this_type;
  out = number_json(d);
  return lax::ok;
}

// Whole numbers only: -?digits. Anything else that is a number is a number
// but not an integer; anything past int64/uint64 is out of range.
lax text_to_integer(std::string_view t, json& out) {
  bool neg = !t.empty() && t[0] == '-';
  std::string_view digits = neg ? t.substr(1) : t;
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos)
    return lax::not_this_type;
  std::uint64_t magnitude = 0;
  auto r = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude);
  if (r.ec == std::errc::result_out_of_range) return lax::out_of_range;
  if (neg) {
    if (magnitude > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1)
      return lax::out_of_range;
    out = static_cast<std::int64_t>(0 - magnitude);
  } else {
    out = magnitude;
  }
  return lax::ok;
}

// ---------------------------------------------------------------------------
// The strict table, and the checks of each kind.

bool run(const schema_node& n, json& v, run_state& st);

// The whole of `s` against the node's pattern: by its class sequence when
// it has one (the same answer, without RE2's set-up on every call).
bool matches_pattern(const schema_node& n, const std::string& s) {
  if (n.pattern_sequence) return n.pattern_sequence->full_match(s);
  return RE2::FullMatch(s, *n.pattern);
}

bool run_string(const schema_node& n, json& v, run_state& st) {
  if (!v.is_string()) {
    invalid_type(st, n, type_of(v));
    return false;
  }
  auto& s = v.get_ref<std::string&>();
  if (n.trim) trim_in_place(s);
  if (n.casing != detail::case_map::none) case_in_place(s, n.casing);

  bool ok = true;
  if (n.min_length || n.max_length) {
    // A string has at most as many code points as bytes, so its bytes
    // alone settle a maximum they do not exceed and a minimum they fall
    // short of; only the other cases count.
    const std::size_t bytes = s.size();
    const bool count = (n.max_length && bytes > *n.max_length) ||
                       (n.min_length && *n.min_length > 0 && bytes >= *n.min_length);
    const std::size_t len = count ? code_points(s) : bytes;
    bool exact = n.min_length && n.max_length && *n.min_length == *n.max_length;
    if (n.min_length && len < *n.min_length) {
      length_issue(st, true, "string", *n.min_length, exact);
      ok = false;
    } else if (n.max_length && len > *n.max_length) {
      length_issue(st, false, "string", *n.max_length, exact);
      ok = false;
    }
  }
  switch (n.format) {
    case detail::string_format::email:
      if (!valid_email(s)) {
        format_issue(st, "email", "must be an email address");
        ok = false;
      }
      break;
    case detail::string_format::url:
      if (!valid_url(s, n.url_schemes)) {
        std::string list;
        for (const auto& sc : n.url_schemes) list += (list.empty() ? "" : ", ") + sc;
        format_issue(st, "url", "must be an absolute URL with scheme " + list);
        ok = false;
      }
      break;
    case detail::string_format::uuid:
      if (!valid_uuid(s)) {
        format_issue(st, "uuid", "must be a UUID");
        ok = false;
      }
      break;
    case detail::string_format::none:
      break;
  }
  if (n.pattern && !matches_pattern(n, s)) {
    format_issue(st, "regex", "must match the pattern /" + n.pattern_source + "/",
                 {{"pattern", n.pattern_source}});
    ok = false;
  }
  if (n.prefix && !std::string_view(s).starts_with(*n.prefix)) {
    format_issue(st, "starts_with", "must start with \"" + *n.prefix + "\"",
                 {{"prefix", *n.prefix}});
    ok = false;
  }
  if (n.suffix && !std::string_view(s).ends_with(*n.suffix)) {
    format_issue(st, "ends_with", "must end with \"" + *n.suffix + "\"", {{"suffix", *n.suffix}});
    ok = false;
  }
  return ok;
}

// Below 2^53 in magnitude every integer is a double, exactly.
constexpr double exact_integers = 9007199254740992.0;

// `x` against the node's bounds (doubles), exactly: `Real` is double for a
// double and for an integer below 2^53 in magnitude, and long double (64
// bits of mantissa) for larger integers, which a double would round.
// Small enough to inline once the issue (and the json of its bound) is
// built out of line: called, it was 7 % of validating the order payload
// (callgrind).
template <class Real>
[[gnu::always_inline]] inline bool check_bounds(const schema_node& n, Real x, run_state& st,
                                                std::string_view origin) {
  bool ok = true;
  if (n.minimum) {
    Real lo = *n.minimum;
    if (n.min_exclusive ? !(x > lo) : !(x >= lo)) {
      number_bound_issue(st, true, origin, *n.minimum, !n.min_exclusive);
      ok = false;
    }
  }
  if (n.maximum) {
    Real hi = *n.maximum;
    if (n.max_exclusive ? !(x < hi) : !(x <= hi)) {
      number_bound_issue(st, false, origin, *n.maximum, !n.max_exclusive);
      ok = false;
    }
  }
  return ok;
}

[[gnu::cold]] void not_multiple(run_state& st, double divisor) {
  st.report("not_multiple_of", "must be a multiple of " + number_text(divisor),
            {{"origin", "number"}, {"divisor", number_json(divisor)}});
}

bool run_number(const schema_node& n, json& v, run_state& st) {
  if (!v.is_number()) {
    invalid_type(st, n, type_of(v));
    return false;
  }
  double d = number_value(v);
  if (!std::isfinite(d)) {
    invalid_type(st, n, type_of(v));
    return false;
  }
  bool ok;
  if (v.is_number_float() || std::fabs(d) < exact_integers) {
    ok = check_bounds(n, d, st, "number");
  } else {
    long double x = v.is_number_unsigned()
                        ? static_cast<long double>(*v.get_ptr<const json::number_unsigned_t*>())
                        : static_cast<long double>(*v.get_ptr<const json::number_integer_t*>());
    ok = check_bounds(n, x, st, "number");
  }
  if (n.divisor) {
    double q = d / *n.divisor;
    if (std::fabs(q - std::round(q)) > 1e-9 * std::max(1.0, std::fabs(q))) {
      not_multiple(st, *n.divisor);
      ok = false;
    }
  }
  return ok;
}

std::pair<int128, int128> target_range(detail::int_target t) {
  switch (t) {
    case detail::int_target::i32:
      return {INT32_MIN, INT32_MAX};
    case detail::int_target::u32:
      return {0, UINT32_MAX};
    case detail::int_target::u64:
      return {0, static_cast<int128>(UINT64_MAX)};
    case detail::int_target::i64:
      break;
  }
  return {INT64_MIN, INT64_MAX};
}

bool run_integer(const schema_node& n, json& v, run_state& st) {
  if (!v.is_number()) {
    invalid_type(st, n, type_of(v));
    return false;
  }
  int128 x = 0;
  if (const auto* u = v.get_ptr<const json::number_unsigned_t*>()) {  // first: see number_value
    x = *u;
  } else if (const auto* i = v.get_ptr<const json::number_integer_t*>()) {
    x = *i;
  } else {
    // A float is an integer only when whole and small enough to be exact
    // (2^53): beyond it, 9007199254740993 has already become ...992.
    double d = *v.get_ptr<const json::number_float_t*>();
    if (!std::isfinite(d) || d != std::floor(d)) {
      invalid_type(st, n, std::isfinite(d) ? "number" : type_of(v));
      return false;
    }
    if (std::fabs(d) > exact_integers) {
      bound_issue(st, d < 0, "int", d < 0 ? json(-9007199254740991) : json(9007199254740991), true,
                  "too large to be exact");
      return false;
    }
    x = static_cast<std::int64_t>(d);
    v = static_cast<std::int64_t>(d);
  }

  auto [lo, hi] = target_range(n.target);
  if (x < lo) {
    bound_issue(st, true, "int", int128_json(lo), true, "the smallest the type holds");
    return false;
  }
  if (x > hi) {
    bound_issue(st, false, "int", int128_json(hi), true, "the largest the type holds");
    return false;
  }

  // x is within int64 or uint64 here; converting those is one instruction,
  // converting an int128 is a library call.
  bool ok;
  if (x > -static_cast<int128>(exact_integers) && x < static_cast<int128>(exact_integers)) {
    ok = check_bounds(n, static_cast<double>(static_cast<std::int64_t>(x)), st, "int");
  } else {
    const long double lx = x <= INT64_MAX ? static_cast<long double>(static_cast<std::int64_t>(x))
                                          : static_cast<long double>(static_cast<std::uint64_t>(x));
    ok = check_bounds(n, lx, st, "int");
  }
  if (n.divisor) {
    auto d = static_cast<int128>(*n.divisor);
    if (x % d != 0) {
      not_multiple(st, *n.divisor);
      ok = false;
    }
  }
  return ok;
}

// An element or a field: a plain scalar (no null, coercion or refinement
// to handle first) is checked here, as run() would check it, without the
// call to run(), whose entry, dispatch and exit cost about 15 instructions
// per field (callgrind; 6 % of validating the five-field object).
[[gnu::always_inline]] inline bool run_child(const schema_node& n, json& v, run_state& st) {
  if (!n.coerce && !n.nullable && n.refinements.empty()) {
    switch (n.kind) {
      case schema_kind::string:
        return run_string(n, v, st);
      case schema_kind::integer:
        return run_integer(n, v, st);
      case schema_kind::number:
        return run_number(n, v, st);
      default:
        break;
    }
  }
  return run(n, v, st);
}

bool run_array(const schema_node& n, json& v, run_state& st) {
  if (!v.is_array()) {
    invalid_type(st, n, type_of(v));
    return false;
  }
  auto& arr = v.get_ref<json::array_t&>();
  bool ok = true;
  bool exact = n.min_length && n.max_length && *n.min_length == *n.max_length;
  if (n.min_length && arr.size() < *n.min_length) {
    length_issue(st, true, "array", *n.min_length, exact);
    ok = false;
  }
  if (n.max_length && arr.size() > *n.max_length) {
    // Too long: the elements are not worth checking.
    length_issue(st, false, "array", *n.max_length, exact);
    return false;
  }
  for (std::size_t i = 0; i < arr.size() && !st.full(); ++i) {
    scoped_segment at(st, i);
    ok = run_child(*n.element, arr[i], st) && ok;
  }
  if (ok && n.unique && arr.size() > 1) {
    std::vector<std::size_t> order(arr.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return arr[a] < arr[b]; });
    for (std::size_t i = 1; i < order.size(); ++i) {
      if (arr[order[i]] == arr[order[i - 1]]) {
        scoped_segment at(st, order[i]);
        st.report("duplicate", "repeats an earlier element", {{"origin", "array"}});
        ok = false;
      }
    }
  }
  return ok;
}

// Tuples, records and unions are out of line (noinline), as the issue
// reporters are: inlined, their locals would grow the frame of every
// run() on the way down a payload of plain objects and arrays.
[[gnu::noinline]] bool run_tuple(const schema_node& n, json& v, run_state& st) {
  if (!v.is_array()) {
    invalid_type(st, n, type_of(v));
    return false;
  }
  auto& arr = v.get_ref<json::array_t&>();
  std::size_t fixed = n.items.size();
  if (arr.size() < fixed) {
    length_issue(st, true, "array", fixed, !n.element);
    return false;
  }
  if (arr.size() > fixed && !n.element) {
    length_issue(st, false, "array", fixed, true);
    return false;
  }
  bool ok = true;
  for (std::size_t i = 0; i < arr.size() && !st.full(); ++i) {
    scoped_segment at(st, i);
    ok = run(i < fixed ? *n.items[i] : *n.element, arr[i], st) && ok;
  }
  return ok;
}

// A value for an absent key: the default, or nothing.
bool fill_default(const schema_node& f, json& slot, run_state& st) {
  if (f.default_value) {
    slot = *f.default_value;
    return true;
  }
  slot = f.default_fn();
  return run(f, slot, st);
}

[[gnu::cold]] void unrecognized(run_state& st, const std::vector<std::string_view>& keys,
                                std::size_t total) {
  json list = json::array();
  std::string text;
  for (auto k : keys) {
    list.push_back(std::string(bounded(k)));
    text += (text.empty() ? "\"" : ", \"") + std::string(bounded(k)) + "\"";
  }
  if (total > keys.size()) text += " and " + std::to_string(total - keys.size()) + " more";
  st.report("unrecognized_keys", "unknown keys: " + text, {{"keys", std::move(list)}});
}

// Whether the `n` bytes at `a` and `b` are the same, compared in words of
// 8, 4 or 2 bytes (the last word overlapping the one before it).
bool same_bytes(const char* a, const char* b, std::size_t n) noexcept {
  auto differ = [&]<class Word>(Word, std::size_t at) {
    Word x, y;
    std::memcpy(&x, a + at, sizeof x);
    std::memcpy(&y, b + at, sizeof y);
    return x != y;
  };
  if (n >= 8) {
    for (std::size_t at = 0; at + 8 < n; at += 8)
      if (differ(std::uint64_t{}, at)) return false;
    return !differ(std::uint64_t{}, n - 8);
  }
  if (n >= 4) return !(differ(std::uint32_t{}, 0) | differ(std::uint32_t{}, n - 4));
  if (n >= 2) return !(differ(std::uint16_t{}, 0) | differ(std::uint16_t{}, n - 2));
  return n == 0 || a[0] == b[0];
}

// std::string::compare's order (bytes as unsigned char), inline: keys are
// short, and the call to memcmp for each one was 6% of validating the
// order payload (perf).
//
// Equal keys (a field the object has, the usual case) are told by a few
// whole-word loads first, without the byte loop, whose exit depends on
// each key's length (half the instructions of the comparisons, callgrind).
int compare_keys(std::string_view a, std::string_view b) noexcept {
  if (a.size() == b.size() && same_bytes(a.data(), b.data(), a.size())) return 0;
  const std::size_t common = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < common; ++i) {
    auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

bool run_object(const schema_node& n, json& v, run_state& st) {
  if (!v.is_object()) {
    invalid_type(st, n, type_of(v));
    return false;
  }
  auto& obj = v.get_ref<json::object_t&>();
  bool ok = true;
  std::vector<std::string_view> unknown;
  std::size_t unknown_total = 0;

  // The object's keys and the schema's fields are both sorted: walk them
  // side by side, no lookups.
  auto it = obj.begin();
  std::size_t fi = 0;
  const std::size_t nf = n.fields.size();
  while ((it != obj.end() || fi < nf) && !st.full()) {
    int c = it == obj.end() ? 1 : fi == nf ? -1 : compare_keys(it->first, n.fields[fi].key);
    if (c < 0) {
      // A key the schema does not name.
      if (n.unknown == unknown_keys::strip) {
        it = obj.erase(it);
      } else {
        if (n.unknown == unknown_keys::strict) {
          if (unknown.size() < 10) unknown.push_back(it->first);
          ++unknown_total;
        }
        ++it;
      }
    } else if (c > 0) {
      // A field the object lacks.
      const auto& f = n.fields[fi];
      const schema_node& fs = *f.schema;
      if (fs.default_value || fs.default_fn) {
        scoped_segment at(st, std::string_view(f.key));
        auto slot = obj.emplace_hint(it, f.key, nullptr);
        ok = fill_default(fs, slot->second, st) && ok;
      } else if (!fs.optional) {
        scoped_segment at(st, std::string_view(f.key));
        required(st, fs);
        ok = false;
      }
      ++fi;
    } else {
      scoped_segment at(st, std::string_view(n.fields[fi].key));
      ok = run_child(*n.fields[fi].schema, it->second, st) && ok;
      ++it;
      ++fi;
    }
  }
  if (unknown_total > 0) {
    unrecognized(st, unknown, unknown_total);
    ok = false;
  }
  return ok;
}

[[gnu::noinline]] bool run_record(const schema_node& n, json& v, run_state& st) {
  if (!v.is_object()) {
    invalid_type(st, n, type_of(v));
    return false;
  }
  bool ok = true;
  for (auto& [key, value] : v.get_ref<json::object_t&>()) {
    if (st.full()) break;
    scoped_segment at(st, std::string_view(key));
    if (n.key_schema) {
      std::vector<issue> key_issues;
      run_state ks(key_issues, 1);
      json k = key;
      if (!run(*n.key_schema, k, ks) && !key_issues.empty()) {
        st.report("invalid_key", "invalid key: " + key_issues[0].message,
                  {{"origin", "record"}, {"issue", key_issues[0].code}});
        ok = false;
        continue;
      }
    }
    ok = run(*n.element, value, st) && ok;
  }
  return ok;
}

json issues_json(const std::vector<issue>& issues, std::size_t cap) {
  json out = json::array();
  for (std::size_t i = 0; i < issues.size() && i < cap; ++i)
    out.push_back(
        {{"field", issues[i].field}, {"code", issues[i].code}, {"message", issues[i].message}});
  return out;
}

[[gnu::noinline]] bool run_union(const schema_node& n, json& v, run_state& st) {
  if (!n.discriminator.empty()) {
    // Discriminated: the tag picks the one option to try.
    const json* tag = nullptr;
    if (v.is_object()) {
      auto it = v.find(n.discriminator);
      if (it != v.end()) tag = &*it;
    }
    if (!v.is_object()) {
      st.report("invalid_type", "expected object, received " + std::string(type_of(v)),
                {{"expected", "object"}, {"received", type_of(v)}});
      return false;
    }
    for (const auto& [value, option] : n.tags)
      if (tag != nullptr && *tag == value) return run(*n.options[option], v, st);
    std::vector<json> allowed;
    for (const auto& t : n.tags) allowed.push_back(t.first);
    scoped_segment at(st, std::string_view(n.discriminator));
    st.report(
        "invalid_union",
        "no option has this \"" + n.discriminator + "\"; expected one of " + values_text(allowed),
        {{"errors", json::array()},
         {"note", "No matching discriminator"},
         {"discriminator", n.discriminator}});
    return false;
  }

  // Plain: the first option that passes, on a copy, so that a failed
  // option's transforms never leak into the value.
  std::vector<std::vector<issue>> failures;
  for (const auto& option : n.options) {
    json copy = v;
    std::vector<issue> found;
    run_state scratch(found, 20);
    if (run(*option, copy, scratch)) {
      v = std::move(copy);
      return true;
    }
    failures.push_back(std::move(found));
  }
  json errors = json::array();
  for (const auto& f : failures) errors.push_back(issues_json(f, 5));
  st.report("invalid_union", "matches none of the allowed forms", {{"errors", std::move(errors)}});
  return false;
}

[[gnu::cold]] void invalid_value(run_state& st, const schema_node& n) {
  st.report("invalid_value",
            "must be " + std::string(n.values.size() > 1 ? "one of " : "") + values_text(n.values),
            {{"values", n.values}});
}

bool run(const schema_node& n, json& v, run_state& st) {
  if (v.is_null() && (n.nullable || n.kind == schema_kind::null || n.kind == schema_kind::any))
    return true;

  // coerce(): a string in JSON is read by the lax table.
  if (n.coerce && v.is_string() && n.kind != schema_kind::string) {
    json out;
    std::string_view t = v.get_ref<const std::string&>();
    lax r = n.kind == schema_kind::boolean   ? text_to_bool(t, out)
            : n.kind == schema_kind::integer ? text_to_integer(t, out)
                                             : text_to_number(t, out);
    if (r == lax::ok) v = std::move(out);
  }

  bool ok = true;
  switch (n.kind) {
    case schema_kind::any:
      break;
    case schema_kind::string:
      ok = run_string(n, v, st);
      break;
    case schema_kind::number:
      ok = run_number(n, v, st);
      break;
    case schema_kind::integer:
      ok = run_integer(n, v, st);
      break;
    case schema_kind::boolean:
      if (!v.is_boolean()) {
        invalid_type(st, n, type_of(v));
        ok = false;
      }
      break;
    case schema_kind::null:
      invalid_type(st, n, type_of(v));  // null returned above
      ok = false;
      break;
    case schema_kind::enumeration:
    case schema_kind::literal:
      if (std::find(n.values.begin(), n.values.end(), v) == n.values.end()) {
        invalid_value(st, n);
        ok = false;
      }
      break;
    case schema_kind::array:
      ok = run_array(n, v, st);
      break;
    case schema_kind::tuple:
      ok = run_tuple(n, v, st);
      break;
    case schema_kind::object:
      ok = run_object(n, v, st);
      break;
    case schema_kind::record:
      ok = run_record(n, v, st);
      break;
    case schema_kind::union_of:
      ok = run_union(n, v, st);
      break;
  }

  if (ok)
    for (const auto& r : n.refinements)
      if (!r.check(v)) {
        st.report("custom", r.message);
        ok = false;
      }
  return ok;
}

// ---------------------------------------------------------------------------
// The lax table over parsed query parameters.

// What one query key gives a schema: its node, or one text of it.
struct source {
  const query_params::node* node = nullptr;
  const std::string* text = nullptr;
};

bool run_query(const schema_node& n, source src, json& out, run_state& st,
               const query_options& opt);

// One text for a scalar schema, or an issue.
const std::string* single_text(const schema_node& n, source src, run_state& st,
                               const query_options& opt) {
  if (src.text != nullptr) return src.text;
  if (!src.node->children.empty()) {
    invalid_type(st, n, "object");
    return nullptr;
  }
  const auto& values = src.node->values;
  if (values.size() == 1) return &values.front();
  if (values.empty()) {
    invalid_type(st, n, "undefined");
    return nullptr;
  }
  switch (opt.duplicates) {
    case duplicate_keys::first:
      return &values.front();
    case duplicate_keys::last:
      return &values.back();
    case duplicate_keys::reject:
      break;
  }
  st.report("duplicate",
            "given " + std::to_string(values.size()) + " times; a single value is expected",
            {{"count", values.size()}});
  return nullptr;
}

bool run_query_scalar(const schema_node& n, source src, json& out, run_state& st,
                      const query_options& opt) {
  const std::string* text = single_text(n, src, st, opt);
  if (text == nullptr) return false;
  std::string_view t = *text;

  // Nullable non-string kinds read "" and "null" as null.
  if (n.nullable && n.kind != schema_kind::string && (t.empty() || t == "null")) {
    out = nullptr;
    return true;
  }

  lax r = lax::ok;
  const schema_node* kind_of = &n;
  if (n.kind == schema_kind::literal && !n.values.front().is_string()) {
    // A literal number or boolean reads the text the way its type would.
    const json& lit = n.values.front();
    r = lit.is_boolean() ? text_to_bool(t, out)
        : lit.is_null() ? (t.empty() || t == "null" ? (out = nullptr, lax::ok) : lax::not_this_type)
                        : text_to_number(t, out);
  } else {
    switch (n.kind) {
      case schema_kind::number:
        r = text_to_number(t, out);
        break;
      case schema_kind::integer:
        r = text_to_integer(t, out);
        break;
      case schema_kind::boolean:
        r = text_to_bool(t, out);
        break;
      case schema_kind::null:
        if (t.empty() || t == "null")
          out = nullptr;
        else
          r = lax::not_this_type;
        break;
      default:
        out = std::string(t);
        break;
    }
  }
  if (r == lax::not_this_type) {
    std::string received = is_decimal(t) ? "number" : "string";
    if (n.kind == schema_kind::literal) {
      st.report("invalid_value", "must be " + values_text(n.values), {{"values", n.values}});
      return false;
    }
    invalid_type(st, *kind_of, received);
    return false;
  }
  if (r == lax::out_of_range) {
    if (n.kind == schema_kind::integer) {
      bool negative = !t.empty() && t[0] == '-';
      auto [lo, hi] = target_range(n.target);
      bound_issue(st, negative, "int", int128_json(negative ? lo : hi), true,
                  negative ? "the smallest the type holds" : "the largest the type holds");
    } else {
      invalid_type(st, n, "Infinity");
    }
    return false;
  }
  return run(n, out, st);
}

// Array elements from `a=1&a=2`, `a[]=1` or `a[0]=1&a[1]=2`.
bool run_query_array(const schema_node& n, source src, json& out, run_state& st,
                     const query_options& opt) {
  std::size_t cap = n.max_length ? *n.max_length : opt.max_array_index + 1;
  if (n.kind == schema_kind::tuple) cap = n.element ? opt.max_array_index + 1 : n.items.size();
  auto element = [&](std::size_t i) -> const schema_node& {
    if (n.kind == schema_kind::array) return *n.element;
    return i < n.items.size() ? *n.items[i] : *n.element;
  };

  if (src.text != nullptr) {
    out = json::array();
    json e;
    scoped_segment at(st, std::size_t{0});
    if (!run_query(element(0), src, e, st, opt)) return false;
    out.push_back(std::move(e));
    return run(n, out, st);
  }
  const auto& node = *src.node;
  if (!node.values.empty() && !node.children.empty()) {
    invalid_type(st, n, "object");
    return false;
  }

  if (!node.children.empty()) {
    // Indexed: every name a canonical index below the cap, checked before
    // a single element is built, so `ids[999999]=1` costs nothing.
    std::vector<std::pair<std::size_t, const query_params::node*>> indexed;
    for (const auto& [name, child] : node.children) {
      std::size_t index = 0;
      auto r = std::from_chars(name.data(), name.data() + name.size(), index);
      bool canonical = r.ec == std::errc{} && r.ptr == name.data() + name.size() &&
                       (name.size() == 1 || name[0] != '0');
      if (!canonical) {
        scoped_segment at(st, std::string_view(name));
        st.report("invalid_key", "an array index must be a whole number", {{"origin", "array"}});
        return false;
      }
      if (r.ec == std::errc::result_out_of_range || index >= cap) {
        length_issue(st, false, "array", cap, false);
        return false;
      }
      indexed.emplace_back(index, child.get());
    }
    std::sort(indexed.begin(), indexed.end());
    out = json::array();
    bool ok = true;
    std::size_t expect = 0;
    for (const auto& [index, child] : indexed) {
      for (; expect < index && !st.full(); ++expect) {
        scoped_segment at(st, expect);
        required(st, element(expect));
        ok = false;
      }
      expect = index + 1;
      scoped_segment at(st, index);
      json e;
      ok = run_query(element(index), {child, nullptr}, e, st, opt) && ok;
      out.push_back(std::move(e));
    }
    return ok && run(n, out, st);
  }

  if (node.values.size() > cap) {
    length_issue(st, false, "array", cap, false);
    return false;
  }
  out = json::array();
  bool ok = true;
  for (std::size_t i = 0; i < node.values.size() && !st.full(); ++i) {
    scoped_segment at(st, i);
    json e;
    ok = run_query(element(i), {nullptr, &node.values[i]}, e, st, opt) && ok;
    out.push_back(std::move(e));
  }
  return ok && run(n, out, st);
}

bool run_query_any(source src, json& out) {
  if (src.text != nullptr) {
    out = *src.text;
    return true;
  }
  const auto& node = *src.node;
  if (node.children.empty()) {
    out = node.values.size() == 1 ? json(node.values.front()) : json(node.values);
    return true;
  }
  out = json::object();
  for (const auto& [name, child] : node.children) run_query_any({child.get(), nullptr}, out[name]);
  return true;
}

bool run_query_object(const schema_node& n, source src, json& out, run_state& st,
                      const query_options& opt) {
  if (src.text != nullptr || !src.node->values.empty()) {
    invalid_type(st, n, "string");
    return false;
  }
  const auto& children = src.node->children;
  out = json::object();
  auto& obj = out.get_ref<json::object_t&>();
  bool ok = true;

  if (n.kind == schema_kind::record) {
    for (const auto& [name, child] : children) {
      if (st.full()) break;
      scoped_segment at(st, std::string_view(name));
      if (n.key_schema) {
        std::vector<issue> key_issues;
        run_state ks(key_issues, 1);
        json k = name;
        if (!run(*n.key_schema, k, ks) && !key_issues.empty()) {
          st.report("invalid_key", "invalid key: " + key_issues[0].message,
                    {{"origin", "record"}, {"issue", key_issues[0].code}});
          ok = false;
          continue;
        }
      }
      json e;
      ok = run_query(*n.element, {child.get(), nullptr}, e, st, opt) && ok;
      obj.emplace(name, std::move(e));
    }
    return ok && (n.refinements.empty() || run(n, out, st));
  }

  // Fields and children are both sorted by name.
  auto it = children.begin();
  std::size_t fi = 0;
  std::vector<std::string_view> unknown;
  std::size_t unknown_total = 0;
  while ((it != children.end() || fi < n.fields.size()) && !st.full()) {
    int c = it == children.end()    ? 1
            : fi == n.fields.size() ? -1
                                    : compare_keys(it->first, n.fields[fi].key);
    if (c < 0) {
      if (n.unknown == unknown_keys::strict) {
        if (unknown.size() < 10) unknown.push_back(it->first);
        ++unknown_total;
      } else if (n.unknown == unknown_keys::passthrough) {
        run_query_any({it->second.get(), nullptr}, obj[it->first]);
      }
      ++it;
    } else if (c > 0) {
      const auto& f = n.fields[fi];
      if (f.schema->default_value || f.schema->default_fn) {
        scoped_segment at(st, std::string_view(f.key));
        ok = fill_default(*f.schema, obj[f.key], st) && ok;
      } else if (!f.schema->optional) {
        scoped_segment at(st, std::string_view(f.key));
        required(st, *f.schema);
        ok = false;
      }
      ++fi;
    } else {
      scoped_segment at(st, std::string_view(n.fields[fi].key));
      json e;
      if (run_query(*n.fields[fi].schema, {it->second.get(), nullptr}, e, st, opt))
        obj.emplace(n.fields[fi].key, std::move(e));
      else
        ok = false;
      ++it;
      ++fi;
    }
  }
  if (unknown_total > 0) {
    unrecognized(st, unknown, unknown_total);
    ok = false;
  }
  if (ok)
    for (const auto& r : n.refinements)
      if (!r.check(out)) {
        st.report("custom", r.message);
        ok = false;
      }
  return ok;
}

bool run_query(const schema_node& n, source src, json& out, run_state& st,
               const query_options& opt) {
  switch (n.kind) {
    case schema_kind::object:
    case schema_kind::record:
      return run_query_object(n, src, out, st, opt);
    case schema_kind::array:
    case schema_kind::tuple:
      return run_query_array(n, src, out, st, opt);
    case schema_kind::any:
      return run_query_any(src, out) && run(n, out, st);
    case schema_kind::union_of: {
      std::vector<std::vector<issue>> failures;
      for (const auto& option : n.options) {
        std::vector<issue> found;
        run_state scratch(found, 20);
        json copy;
        if (run_query(*option, src, copy, scratch, opt)) {
          out = std::move(copy);
          if (n.refinements.empty()) return true;
          bool ok = true;
          for (const auto& r : n.refinements)
            if (!r.check(out)) {
              st.report("custom", r.message);
              ok = false;
            }
          return ok;
        }
        failures.push_back(std::move(found));
      }
      json errors = json::array();
      for (const auto& f : failures) errors.push_back(issues_json(f, 5));
      st.report("invalid_union", "matches none of the allowed forms",
                {{"errors", std::move(errors)}});
      return false;
    }
    default:
      return run_query_scalar(n, src, out, st, opt);
  }
}

}  // namespace

// ---------------------------------------------------------------------------

namespace detail {
std::vector<issue> check_value(const schema_node& node, json& value, std::size_t max_issues) {
  std::vector<issue> issues;
  run_state st(issues, max_issues);
  run(node, value, st);
  st.finish();
  return issues;
}
}  // namespace detail

json issues_to_json(std::span<const issue> issues) {
  json out = json::array();
  for (const auto& i : issues) {
    json entry = {{"field", i.field}, {"code", i.code}, {"message", i.message}};
    if (i.params.is_object())
      for (const auto& [k, v] : i.params.items()) entry[k] = v;
    out.push_back(std::move(entry));
  }
  return out;
}

json validation_result::details() const {
  return issues_to_json(issues);
}

std::vector<issue> schema::validate_in_place(json& value, std::size_t max_issues) const {
  std::vector<issue> issues;
  run_state st(issues, max_issues);
  run(*node_, value, st);
  st.finish();
  return issues;
}

validation_result schema::validate(json value, std::size_t max_issues) const {
  validation_result r;
  run_state st(r.issues, max_issues);
  run(*node_, value, st);
  r.truncated = st.finish();
  if (r.issues.empty()) r.value = std::move(value);
  return r;
}

validation_result schema::validate_query(const query_params& params, const query_options& options,
                                         std::size_t max_issues) const {
  if (!is_object_like())
    throw config_error("schema: a query schema must be an object or a record, not " +
                       std::string(kind_name()) + "; wrap the fields in schema::object()");
  validation_result r;
  run_state st(r.issues, max_issues);
  json out;
  run_query(*node_, {&params.root(), nullptr}, out, st, options);
  r.truncated = st.finish();
  if (r.issues.empty()) r.value = std::move(out);
  return r;
}

}  // namespace portcullis
