// The bounded query-string and form parser.
#include "portcullis/query_string.hpp"

#include <utf8proc.h>

namespace portcullis {

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strict UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    utf8proc_int32_t cp;
    auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                              static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0) return false;
    i += static_cast<std::size_t>(n);
  }
  return true;
}

std::string cut(std::string_view s) {
  constexpr std::size_t max = 64;
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  if (!valid_utf8(out)) return std::nullopt;
  return out;
}

const query_params::node* query_params::node::find(std::string_view name) const noexcept {
  auto it = children.find(name);
  return it == children.end() ? nullptr : it->second.get();
}

struct query_parser {
  const query_options& opt;
  query_parse_result& result;

  bool fail(std::string field, std::string_view code, std::string message) {
    result.error = query_error{cut(field), code, std::move(message)};
    return false;
  }

  // One `key=value` pair.
  bool pair(std::string_view raw_key, std::string_view raw_value) {
    if (raw_key.size() > opt.max_key_length)
      return fail(std::string(raw_key.substr(0, 64)), "too_long",
                  "a key is longer than " + std::to_string(opt.max_key_length) + " bytes");
    if (raw_value.size() > opt.max_value_length)
      return fail(std::string(raw_key), "too_long",
                  "a value is longer than " + std::to_string(opt.max_value_length) + " bytes");

    // The name, up to the first '['; then whole [segments] to the end.
    std::size_t open = raw_key.find('[');
    std::string_view name = raw_key.substr(0, open);
    std::vector<std::string_view> segments;
    bool append = false;
    if (open != std::string_view::npos) {
      std::size_t at = open;
      while (at < raw_key.size()) {
        if (raw_key[at] != '[' || append)
          return fail(std::string(raw_key), "invalid_key", "the key's brackets are malformed");
        auto close = raw_key.find(']', at + 1);
        if (close == std::string_view::npos)
          return fail(std::string(raw_key), "invalid_key", "the key has an unclosed bracket");
        std::string_view seg = raw_key.substr(at + 1, close - at - 1);
        if (seg.find('[') != std::string_view::npos)
          return fail(std::string(raw_key), "invalid_key", "the key's brackets are malformed");
        if (seg.empty())
          append = true;  // `a[]` appends; only as the last segment
        else
          segments.push_back(seg);
        if (segments.size() + (append ? 1 : 0) > opt.max_depth)
          return fail(std::string(name), "too_deep",
                      "the key nests deeper than " + std::to_string(opt.max_depth) + " levels");
        at = close + 1;
      }
    }
    if (name.empty())
      return fail(std::string(raw_key), "invalid_key", "a key with brackets has no name");

    // Decode, then place the value in the tree.
    auto decoded_name = percent_decode(name, opt.plus_as_space);
    if (!decoded_name)
      return fail({}, "invalid_encoding", "a key has invalid percent-encoding or is not UTF-8");
    auto value = percent_decode(raw_value, opt.plus_as_space);
    if (!value)
      return fail(*decoded_name, "invalid_encoding",
                  "a value has invalid percent-encoding or is not UTF-8");

    query_params::node* at = &result.params.root();
    auto descend = [&](std::string key) {
      auto& slot = at->children[std::move(key)];
      if (!slot) slot = std::make_unique<query_params::node>();
      at = slot.get();
    };
    descend(std::move(*decoded_name));
    for (auto seg : segments) {
      auto decoded = percent_decode(seg, opt.plus_as_space);
      if (!decoded)
        return fail(std::string(name), "invalid_encoding",
                    "a key has invalid percent-encoding or is not UTF-8");
      descend(std::move(*decoded));
    }
    at->values.push_back(std::move(*value));
    return true;
  }

  void run(std::string_view text) {
    std::size_t start = 0;
    while (start <= text.size()) {
      auto amp = text.find('&', start);
      if (amp == std::string_view::npos) amp = text.size();
      std::string_view part = text.substr(start, amp - start);
      start = amp + 1;
      if (part.empty()) continue;

      auto eq = part.find('=');
      std::string_view key = part.substr(0, eq);
      std::string_view value =
          eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
      if (key.empty()) continue;
      if (++result.params.size_ > opt.max_parameters) {
        fail({}, "too_many_parameters",
             "more than " + std::to_string(opt.max_parameters) + " parameters");
        return;
      }
      if (!pair(key, value)) return;
    }
  }
};

query_parse_result parse_query(std::string_view text, const query_options& options) {
  query_parse_result result;
  query_parser{options, result}.run(text);
  if (!result.ok()) result.params = query_params{};
  return result;
}

}  // namespace portcullis
