// Parsing untrusted JSON through nlohmann's SAX interface, with limits.
#include "portcullis/json_body.hpp"

#include <algorithm>
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
// nlohmann's parser itself keeps its own state on the heap, so with the
// depth capped here nothing recurses on untrusted input.
class bounded_builder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  bounded_builder(std::string_view text, const json_limits& limits, json& root,
                  std::optional<json_error>& error)
      : text_(text), limits_(limits), root_(root), error_(error) {}

  bool null() { return put(nullptr) != nullptr; }
  bool boolean(bool v) { return put(v) != nullptr; }
  bool number_integer(number_integer_t v) { return put(v) != nullptr; }
  bool number_unsigned(number_unsigned_t v) { return put(v) != nullptr; }
  bool number_float(number_float_t v, const string_t&) { return put(v) != nullptr; }
  bool string(string_t& v) { return put(std::move(v)) != nullptr; }
  bool binary(binary_t&) { return false; }  // JSON text has no binary values

  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
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

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) {
    // The position counts the characters read, the bad one included.
    std::size_t offset = std::min(position == 0 ? 0 : position - 1, text_.size());
    std::size_t line = 1, line_start = 0;
    for (std::size_t i = 0; i < offset; ++i)
      if (text_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    std::size_t column = offset - line_start + 1;
    std::string what = ex.id == 406 ? "number out of range" : "invalid JSON";
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

}  // namespace

json_parse_result parse_json(std::string_view text, const json_limits& limits) {
  json_parse_result result;
  bounded_builder builder(text, limits, result.value, result.error);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &builder, json::input_format_t::json, true);
  } catch (const std::exception&) {
    // sax_parse reports through the builder; this is for allocation failure.
    ok = false;
  }
  if (!ok && !result.error) result.error = json_error{"invalid_json", "invalid JSON", {}, 0, 0};
  if (!result.ok()) result.value = nullptr;
  return result;
}

}  // namespace portcullis
