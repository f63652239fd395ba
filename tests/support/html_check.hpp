// Checks of sanitized HTML used by the unit, fuzz and browser suites. They
// re-parse the output with gumbo (as a document, like the sanitizer) and
// look at the tree that a parser builds, independently of how the
// sanitizer decided what to keep.
#pragma once

#include "portcullis/html_sanitizer.hpp"

#include <gumbo.h>

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::test {

/// What the re-parsed output may contain.
struct html_allowlist {
  std::set<std::string> tags;
  std::set<std::string> attributes;  // "a:href" per tag, "*:title" global
  std::set<std::string> schemes;
  bool data_attributes = false;
  std::size_t max_depth = 256;
};

class parsed_html {
 public:
  explicit parsed_html(std::string_view html) : text_("<!DOCTYPE html><body>") {
    text_.append(html);
    GumboOptions options = kGumboDefaultOptions;
    options.max_errors = 0;
    options_ = options;
    output_ = gumbo_parse_with_options(&options_, text_.data(), text_.size());
  }
  ~parsed_html() { gumbo_destroy_output(&options_, output_); }
  parsed_html(const parsed_html&) = delete;
  parsed_html& operator=(const parsed_html&) = delete;

  const GumboNode* body() const {
    const GumboVector& kids = output_->root->v.element.children;
    for (unsigned k = 0; k < kids.length; ++k) {
      const auto* n = static_cast<const GumboNode*>(kids.data[k]);
      if (n->type == GUMBO_NODE_ELEMENT && n->v.element.tag == GUMBO_TAG_BODY) return n;
    }
    return nullptr;
  }

 private:
  std::string text_;
  GumboOptions options_;
  GumboOutput* output_;
};

/// The scheme of a URL as a browser would see it after removing control
/// characters and spaces, lower-cased; "" when it has none.
inline std::string url_scheme(std::string_view value) {
  std::string cleaned;
  for (char c : value)
    if (static_cast<unsigned char>(c) > 0x20 && c != 0x7F) cleaned.push_back(c);
  const auto colon = cleaned.find(':');
  if (colon == std::string::npos) return "";
  const auto slash = cleaned.find_first_of("/?#");
  if (slash != std::string::npos && slash < colon) return "";
  std::string scheme = cleaned.substr(0, colon);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return scheme;
}

namespace detail_check {

inline bool url_attribute(std::string_view n) {
  return n == "href" || n == "src" || n == "action" || n == "formaction" || n == "cite" ||
         n == "poster" || n == "xlink:href" || n == "background" || n == "longdesc" ||
         n == "usemap" || n == "ping" || n == "srcset" || n == "data" || n == "codebase";
}

inline void check_url(const std::string& where, std::string_view value, const html_allowlist& allow,
                      std::vector<std::string>& problems) {
  const std::string scheme = url_scheme(value);
  if (scheme.empty()) return;
  if (scheme.find("script") != std::string::npos || scheme == "data" ||
      !allow.schemes.count(scheme))
    problems.push_back(where + " has scheme '" + scheme + "'");
}

inline void walk(const GumboNode* n, std::size_t depth, const html_allowlist& allow,
                 std::vector<std::string>& problems) {
  if (n->type == GUMBO_NODE_COMMENT) problems.push_back("a comment");
  if (n->type != GUMBO_NODE_ELEMENT && n->type != GUMBO_NODE_TEMPLATE) return;
  const GumboElement& e = n->v.element;
  std::string tag = e.tag == GUMBO_TAG_UNKNOWN ? "(unknown)" : gumbo_normalized_tagname(e.tag);
  if (e.tag_namespace != GUMBO_NAMESPACE_HTML) problems.push_back("foreign element " + tag);
  if (!allow.tags.count(tag)) problems.push_back("element " + tag);
  if (depth > allow.max_depth) problems.push_back("depth " + std::to_string(depth));
  for (unsigned k = 0; k < e.attributes.length; ++k) {
    const auto* a = static_cast<const GumboAttribute*>(e.attributes.data[k]);
    const std::string name = a->name;
    const bool allowed = allow.attributes.count(tag + ":" + name) ||
                         allow.attributes.count("*:" + name) ||
                         (allow.data_attributes && name.starts_with("data-"));
    if (!allowed) problems.push_back("attribute " + tag + "[" + name + "]");
    if (name.starts_with("on")) problems.push_back("event handler " + name);
    if (name == "srcset") {
      std::string v = a->value;
      std::replace(v.begin(), v.end(), ',', ' ');
      std::size_t at = 0;
      while (at < v.size()) {
        const auto end = std::min(v.find(' ', at), v.size());
        check_url(tag + "[srcset]", v.substr(at, end - at), allow, problems);
        at = end + 1;
      }
    } else if (url_attribute(name)) {
      check_url(tag + "[" + name + "]", a->value, allow, problems);
    }
  }
  for (unsigned k = 0; k < e.children.length; ++k)
    walk(static_cast<const GumboNode*>(e.children.data[k]), depth + 1, allow, problems);
}

inline bool is_void(GumboTag t) {
  switch (t) {
    case GUMBO_TAG_AREA:
    case GUMBO_TAG_BASE:
    case GUMBO_TAG_BR:
    case GUMBO_TAG_COL:
    case GUMBO_TAG_EMBED:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_IMG:
    case GUMBO_TAG_INPUT:
    case GUMBO_TAG_LINK:
    case GUMBO_TAG_META:
    case GUMBO_TAG_PARAM:
    case GUMBO_TAG_SOURCE:
    case GUMBO_TAG_TRACK:
    case GUMBO_TAG_WBR:
      return true;
    default:
      return false;
  }
}

inline void escape(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '\r':  // a raw CR would be read back as LF
        out += "&#13;";
        break;
      default:
        out.push_back(c);
    }
  }
}

inline void serialize(const GumboNode* n, std::string& out) {
  if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE) {
    if (n->parent && n->parent->type == GUMBO_NODE_ELEMENT &&
        n->parent->v.element.tag == GUMBO_TAG_STYLE)
      out += n->v.text.text;
    else
      escape(out, n->v.text.text);
    return;
  }
  if (n->type != GUMBO_NODE_ELEMENT) return;
  const GumboElement& e = n->v.element;
  const std::string tag = gumbo_normalized_tagname(e.tag);
  out += "<" + tag;
  for (unsigned k = 0; k < e.attributes.length; ++k) {
    const auto* a = static_cast<const GumboAttribute*>(e.attributes.data[k]);
    out += std::string(" ") + a->name + "=\"";
    escape(out, a->value);
    out += "\"";
  }
  out += ">";
  if (is_void(e.tag)) return;
  const std::size_t content = out.size();
  for (unsigned k = 0; k < e.children.length; ++k)
    serialize(static_cast<const GumboNode*>(e.children.data[k]), out);
  if (e.tag == GUMBO_TAG_PRE && out.size() > content && out[content] == '\n')
    out.insert(content, 1, '\n');
  out += "</" + tag + ">";
}

}  // namespace detail_check

/// Everything in `html`, re-parsed, that `allow` does not permit.
inline std::vector<std::string> violations(std::string_view html, const html_allowlist& allow) {
  parsed_html parsed(html);
  std::vector<std::string> problems;
  if (const GumboNode* body = parsed.body()) {
    const GumboVector& kids = body->v.element.children;
    for (unsigned k = 0; k < kids.length; ++k)
      detail_check::walk(static_cast<const GumboNode*>(kids.data[k]), 1, allow, problems);
  }
  return problems;
}

/// Parses `html` and serializes the tree again with the same conventions
/// as the sanitizer (every attribute quoted, five characters escaped, a
/// carriage return written as `&#13;`). A
/// stable output comes back unchanged.
inline std::string reserialize(std::string_view html) {
  parsed_html parsed(html);
  std::string out;
  if (const GumboNode* body = parsed.body()) {
    const GumboVector& kids = body->v.element.children;
    for (unsigned k = 0; k < kids.length; ++k)
      detail_check::serialize(static_cast<const GumboNode*>(kids.data[k]), out);
  }
  return out;
}

/// The allowlist that `options` describes, including the rel and target
/// attributes that the sanitizer adds to links.
inline html_allowlist allowlist_of(const html_sanitizer_options& options) {
  html_allowlist allow;
  allow.tags.insert(options.tags.begin(), options.tags.end());
  for (const auto& a : options.global_attributes) allow.attributes.insert("*:" + a);
  for (const auto& [tag, names] : options.attributes)
    for (const auto& a : names) allow.attributes.insert(tag + ":" + a);
  if (options.force_noopener) allow.attributes.insert({"a:rel", "area:rel"});
  if (options.target != link_target::remove) allow.attributes.insert({"a:target", "area:target"});
  allow.schemes.insert(options.url_schemes.begin(), options.url_schemes.end());
  allow.data_attributes = options.allow_data_attributes;
  allow.max_depth = options.max_depth;
  return allow;
}

}  // namespace portcullis::test
