// HTML escaping of the five characters; see escape.hpp.
#include "portcullis/escape.hpp"

namespace portcullis {

void append_escaped_html(std::string& out, std::string_view text) {
  // Copy runs between special characters in one append each: most text
  // has none, and byte-by-byte appends would dominate the cost.
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char* entity = nullptr;
    switch (text[i]) {
      case '&':
        entity = "&amp;";
        break;
      case '<':
        entity = "&lt;";
        break;
      case '>':
        entity = "&gt;";
        break;
      case '"':
        entity = "&quot;";
        break;
      case '\'':
        entity = "&#39;";
        break;
      default:
        continue;
    }
    out.append(text.substr(run, i - run));
    out.append(entity);
    run = i + 1;
  }
  out.append(text.substr(run));
}

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  append_escaped_html(out, text);
  return out;
}

std::string escape_html_attribute(std::string_view value) {
  return escape_html(value);
}

}  // namespace portcullis
