// Parsing untrusted JSON with limits: a reader of our own (RFC 8259, no
// extensions) feeding a builder that refuses repeated keys, depth and size.
// nlohmann's own lexer copies every character into its token one at a time;
// this one copies runs of plain bytes at once and checks UTF-8 as it goes,
// which makes a typical request body about twice as fast to parse.
#include "portcullis/json_body.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <vector>

namespace portcullis {

namespace {

using json = nlohmann::json;

std::string cut(std::string_view s) {
  constexpr std::size_t max = 64;
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

// Builds the tree as nlohmann's own DOM parser does, but refuses repeated
// keys, depth past the limit and too many values as soon as they appear.
class bounded_builder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;

  bounded_builder(std::string_view text, const json_limits& limits, json& root,
                  std::optional<json_error>& error)
      : text_(text), limits_(limits), root_(root), error_(error) {}

  bool null() { return put(nullptr) != nullptr; }
  bool boolean(bool v) { return put(v) != nullptr; }
  bool number_integer(number_integer_t v) { return put(v) != nullptr; }
  bool number_unsigned(number_unsigned_t v) { return put(v) != nullptr; }
  bool number_float(number_float_t v) { return put(v) != nullptr; }
  bool string(string_t& v) { return put(std::move(v)) != nullptr; }

  bool start_object() { return open(json::value_t::object); }
  bool start_array() { return open(json::value_t::array); }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    return true;
  }

  bool key(string_t& k) {
    auto& obj = stack_.back().container->get_ref<json::object_t&>();
    auto [it, inserted] = obj.try_emplace(std::move(k), nullptr);
    if (!inserted) {
      error_ = json_error{"duplicate", "the key \"" + cut(it->first) + "\" appears twice",
                          path(it->first), 0, 0};
      return false;
    }
    stack_.back().key = &it->first;
    pending_ = &it->second;
    return true;
  }

  // A syntax error at byte `offset` of the text (the first byte that cannot
  // continue it; the text's size when it ended too soon).
  bool syntax_error(std::size_t offset, bool out_of_range) {
    offset = std::min(offset, text_.size());
    std::size_t line = 1, line_start = 0;
    for (std::size_t i = 0; i < offset; ++i)
      if (text_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    std::size_t column = offset - line_start + 1;
    std::string what = out_of_range ? "number out of range" : "invalid JSON";
    error_ =
        json_error{"invalid_json",
                   what + " at line " + std::to_string(line) + ", column " + std::to_string(column),
                   {},
                   line,
                   column};
    return false;
  }

 private:
  struct frame {
    json* container;
    const std::string* key = nullptr;
  };

  // The path to the current position, for errors.
  std::string path(std::string_view last) const {
    std::string p;
    for (std::size_t i = 0; i + 1 < stack_.size(); ++i) {
      const auto& f = stack_[i];
      if (!p.empty()) p += '.';
      if (f.container->is_array())
        p += std::to_string(f.container->size() - 1);
      else if (f.key != nullptr)
        p += cut(*f.key);
    }
    if (!last.empty()) {
      if (!p.empty()) p += '.';
      p += cut(last);
    }
    return p;
  }

  template <class V>
  json* put(V&& v) {
    if (++count_ > limits_.max_values) {
      error_ = json_error{
          "too_big", "more than " + std::to_string(limits_.max_values) + " values", {}, 0, 0};
      return nullptr;
    }
    if (stack_.empty()) {
      root_ = json(std::forward<V>(v));
      return &root_;
    }
    json& top = *stack_.back().container;
    if (top.is_array()) {
      auto& arr = top.get_ref<json::array_t&>();
      arr.emplace_back(std::forward<V>(v));
      return &arr.back();
    }
    *pending_ = json(std::forward<V>(v));
    return pending_;
  }

  bool open(json::value_t type) {
    if (stack_.size() >= limits_.max_depth) {
      std::string where;
      if (!stack_.empty()) {
        const auto& top = stack_.back();
        where = top.container->is_array() ? std::to_string(top.container->size())
                                          : (top.key != nullptr ? cut(*top.key) : std::string());
      }
      error_ = json_error{"too_deep",
                          "nested deeper than " + std::to_string(limits_.max_depth) + " levels",
                          path(where), 0, 0};
      return false;
    }
    json* slot = put(json(type));
    if (slot == nullptr) return false;
    stack_.push_back({slot});
    return true;
  }

  std::string_view text_;
  const json_limits& limits_;
  json& root_;
  std::optional<json_error>& error_;
  std::vector<frame> stack_;
  json* pending_ = nullptr;
  std::size_t count_ = 0;
};


// Bytes that stand for themselves inside a string: printable ASCII but the
// quote and the backslash.
constexpr std::array<bool, 256> plain_bytes = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

// The reader: iterative, so that depth costs heap (bounded by the builder),
// never stack. Every method that returns false has recorded why.
class reader {
 public:
  reader(std::string_view text, bounded_builder& out)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), out_(out) {}

  bool run() {
    bool need_value = true;
    for (;;) {
      skip_space();
      if (need_value) {
        if (!value(need_value)) return false;
        continue;
      }
      if (open_.empty()) return p_ == end_ || fail(p_);
      if (p_ == end_) return fail(p_);
      const char c = *p_;
      const bool in_object = open_.back() == '{';
      if (c == ',') {
        ++p_;
        if (in_object && !member_key()) return false;
        need_value = true;
      } else if (c == (in_object ? '}' : ']')) {
        ++p_;
        close();
      } else {
        return fail(p_);
      }
    }
  }

 private:
  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool fail(const char* at, bool out_of_range = false) {
    return out_.syntax_error(static_cast<std::size_t>(at - begin_), out_of_range);
  }

  // One value at p_. A container is opened and, when empty, closed again;
  // otherwise the loop in run() reads its elements. `need_value` says on
  // return whether a value (a container's first element) is still wanted.
  bool value(bool& need_value) {
    if (p_ == end_) return fail(p_);
    need_value = false;
    switch (*p_) {
      case '{':
      case '[': {
        const char kind = *p_++;
        if (!(kind == '{' ? out_.start_object() : out_.start_array())) return false;
        open_.push_back(kind);
        skip_space();
        if (p_ != end_ && *p_ == (kind == '{' ? '}' : ']')) {
          ++p_;
          close();
          return true;
        }
        need_value = true;
        return kind == '[' || member_key();
      }
      case '"':
        if (!read_string()) return false;
        return out_.string(scratch_);
      case 't':
        return literal("true") && out_.boolean(true);
      case 'f':
        return literal("false") && out_.boolean(false);
      case 'n':
        return literal("null") && out_.null();
      default:
        return number();
    }
  }

  void close() {
    if (open_.back() == '{')
      out_.end_object();
    else
      out_.end_array();
    open_.pop_back();
  }

  // `"key"` and its colon, after skipping space.
  bool member_key() {
    skip_space();
    if (p_ == end_ || *p_ != '"') return fail(p_);
    if (!read_string() || !out_.key(scratch_)) return false;
    skip_space();
    if (p_ == end_ || *p_ != ':') return fail(p_);
    ++p_;
    return true;
  }

  bool literal(std::string_view word) {
    for (char c : word) {
      if (p_ == end_ || *p_ != c) return fail(p_);
      ++p_;
    }
    return true;
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  bool number() {
    const char* start = p_;
    if (*p_ == '-') ++p_;
    if (p_ == end_ || !digit(*p_)) return fail(p_);
    if (*p_++ != '0')
      while (p_ != end_ && digit(*p_)) ++p_;
    const char* int_end = p_;
    bool integral = true;
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !digit(*p_)) return fail(p_);
      while (p_ != end_ && digit(*p_)) ++p_;
      integral = false;
    }
    const char* exp = p_;
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !digit(*p_)) return fail(p_);
      while (p_ != end_ && digit(*p_)) ++p_;
      integral = false;
    }
    if (integral) {
      // As nlohmann::json: negative integers are signed, others unsigned,
      // and either becomes a double past its range.
      if (*start == '-') {
        std::int64_t v = 0;
        if (std::from_chars(start, p_, v).ec == std::errc{}) return out_.number_integer(v);
      } else {
        std::uint64_t v = 0;
        if (std::from_chars(start, p_, v).ec == std::errc{}) return out_.number_unsigned(v);
      }
    }
    double v = 0;
    if (std::from_chars(start, p_, v).ec == std::errc::result_out_of_range) {
      // Too small to tell from zero is zero (as strtod has it); too large
      // to be a double is refused.
      if (!underflows(start, int_end, exp, p_)) return fail(start, true);
      v = *start == '-' ? -0.0 : 0.0;
    }
    return out_.number_float(v);
  }

  // Whether a number that from_chars found out of range is tiny rather than
  // huge: the decimal exponent of its first significant digit is negative.
  // [start, exp) holds the digits and the point, [exp, end) the exponent.
  static bool underflows(const char* start, const char* int_end, const char* exp,
                         const char* end) {
    if (*start == '-') ++start;
    const char* d = start;
    while (d != int_end && *d == '0') ++d;
    long magnitude;
    if (d != int_end) {
      magnitude = (int_end - d) - 1;
    } else {
      const char* f = int_end == exp ? exp : int_end + 1;  // past the point
      long zeros = 0;
      for (; f != exp && *f == '0'; ++f) ++zeros;
      magnitude = -(zeros + 1);
    }
    long e = 0;
    if (exp != end) {
      const char* q = exp + 1;
      const bool negative = *q == '-';
      if (*q == '+' || *q == '-') ++q;
      for (; q != end && e < 1'000'000; ++q) e = e * 10 + (*q - '0');
      if (negative) e = -e;
    }
    return magnitude + e < 0;
  }

  // A string at p_ (its opening quote) into scratch_.
  bool read_string() {
    scratch_.clear();
    ++p_;
    for (;;) {
      const char* run = p_;
      while (p_ != end_ && plain_bytes[static_cast<unsigned char>(*p_)]) ++p_;
      scratch_.append(run, p_);
      if (p_ == end_) return fail(p_);
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c == '\\') {
        if (!escape()) return false;
      } else if (c < 0x20) {
        return fail(p_);  // control characters must be escaped
      } else if (!utf8_sequence()) {
        return false;
      }
    }
  }

  // One multi-byte UTF-8 sequence at p_, checked as RFC 3629 has it: no
  // overlong forms, no surrogates, nothing past U+10FFFF.
  bool utf8_sequence() {
    const auto b0 = static_cast<unsigned char>(*p_);
    int more = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      more = 1;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      more = 2;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      more = 3;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      return fail(p_);
    }
    const char* start = p_++;
    for (int i = 0; i < more; ++i, ++p_) {
      if (p_ == end_) return fail(p_);
      const auto b = static_cast<unsigned char>(*p_);
      if (b < (i == 0 ? lo : 0x80) || b > (i == 0 ? hi : 0xBF)) return fail(p_);
    }
    scratch_.append(start, p_);
    return true;
  }

  // Four hex digits at p_.
  bool hex4(std::uint32_t& out) {
    out = 0;
    for (int i = 0; i < 4; ++i, ++p_) {
      if (p_ == end_) return fail(p_);
      const char c = *p_;
      std::uint32_t v;
      if (c >= '0' && c <= '9')
        v = static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v = static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v = static_cast<std::uint32_t>(c - 'A' + 10);
      else
        return fail(p_);
      out = out << 4 | v;
    }
    return true;
  }

  // An escape at p_ (its backslash). A \u escape of a high surrogate must
  // be followed by one of a low surrogate; a lone half is refused.
  bool escape() {
    ++p_;
    if (p_ == end_) return fail(p_);
    const char c = *p_++;
    switch (c) {
      case '"':
      case '\\':
      case '/':
        scratch_ += c;
        return true;
      case 'b':
        scratch_ += '\b';
        return true;
      case 'f':
        scratch_ += '\f';
        return true;
      case 'n':
        scratch_ += '\n';
        return true;
      case 'r':
        scratch_ += '\r';
        return true;
      case 't':
        scratch_ += '\t';
        return true;
      case 'u':
        break;
      default:
        return fail(p_ - 1);
    }
    std::uint32_t cp = 0;
    if (!hex4(cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(p_ - 1);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return fail(p_);
      p_ += 2;
      std::uint32_t low = 0;
      if (!hex4(low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) return fail(p_ - 1);
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(cp);
    return true;
  }

  void append_utf8(std::uint32_t cp) {
    if (cp < 0x80) {
      scratch_ += static_cast<char>(cp);
    } else if (cp < 0x800) {
      scratch_ += static_cast<char>(0xC0 | cp >> 6);
      scratch_ += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      scratch_ += static_cast<char>(0xE0 | cp >> 12);
      scratch_ += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      scratch_ += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      scratch_ += static_cast<char>(0xF0 | cp >> 18);
      scratch_ += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
      scratch_ += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      scratch_ += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  bounded_builder& out_;
  std::vector<char> open_;  // '{' or '[' per open container
  std::string scratch_;
};

}  // namespace

json_parse_result parse_json(std::string_view text, const json_limits& limits) {
  json_parse_result result;
  bounded_builder builder(text, limits, result.value, result.error);
  bool ok = false;
  try {
    ok = reader(text, builder).run();
  } catch (const std::exception&) {
    ok = false;  // allocation failure: every other refusal is recorded
  }
  if (!ok && !result.error) result.error = json_error{"invalid_json", "invalid JSON", {}, 0, 0};
  if (!result.ok()) result.value = nullptr;
  return result;
}

}  // namespace portcullis
