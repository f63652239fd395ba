// portcullis/html_sanitizer.hpp — an allowlist HTML sanitizer.
//
// When a service must accept some HTML (a profile bio, a comment with
// links), it keeps only what an allowlist permits: the input is parsed the
// way a browser parses it (an HTML5 parser, gumbo), and only allowed
// elements and attributes are written back, by a serializer that quotes
// and escapes everything. Nothing of the input's own markup is copied.
//
//     static const portcullis::html_sanitizer bio{portcullis::html_sanitizer_options::strict()};
//     auto clean = bio.sanitize(R"(<b>hi</b><img src=x onerror=alert(1)><a
//     href="javascript:x">y</a>)"); if (!clean) return bad_request(clean.refusal_message());  //
//     too large, too deep store(clean.html);  // "<b>hi</b><a>y</a>"
//
// What the output guarantees:
// - only allowed elements (HTML namespace) and allowed attributes; never an
//   `on*` attribute, never `srcdoc`, never a URL attribute whose scheme,
//   after entity decoding and removal of control characters and spaces, is
//   outside `url_schemes` (`javascript:`, `vbscript:` and `data:` can never
//   be allowed);
// - stable: sanitizing the output again returns it byte for byte, and a
//   browser parsing it builds the tree it was serialized from (nesting
//   that the parser would restructure, such as a <p> inside a <p> after an
//   element between them was removed, is unwrapped). This is what stops
//   mutation XSS;
// - no control characters (other than tab, LF, FF) or noncharacters in
//   text and values: gumbo 0.10.1 reads them differently from browsers;
//   text and values are UTF-8 (a byte that is not comes out as U+FFFD);
// - nesting depth at most `max_depth` (≤ 256, well below the 512 levels at
//   which browsers start to restructure deep trees).
//
// How the input is read: as a whole document (after an implied
// `<!DOCTYPE html><body>`) whose body's children are sanitized. gumbo's
// fragment mode differs from browsers (it keeps <p> inside <svg> as SVG),
// and gumbo parses <noscript> content as markup where a browser with
// scripting reads text; so foreign content (svg, math) and every raw-text
// element (script, style, noscript, xmp, iframe, noembed, noframes,
// plaintext, title, textarea, template) is dropped with its content unless
// the element is explicitly allowed, and noscript can never be allowed.
// Comments are always removed.
//
// Known shortcomings: custom elements (names gumbo does not know) cannot be
// allowed; CSS in an allowed `style` attribute or element is passed as it
// is, not sanitized (modern browsers run no script from CSS, but it can
// restyle the page); `id` and `name` allow DOM clobbering and are in no
// preset. Forms and their controls, frames and plugin elements (form,
// input, button, select, textarea, iframe, object, embed …) cannot be
// allowed.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

/// What happens to the content of an element that is removed because it is
/// not allowed. Foreign content and raw-text elements are always dropped
/// with their content, whatever this says.
enum class removed_content {
  /// The element's children are sanitized and kept in its place, so its
  /// text stays readable (escaped); `<blink>hi</blink>` becomes `hi`.
  keep,
  /// The element goes with everything inside it.
  drop,
};

/// The `target` attribute of links.
enum class link_target {
  /// Removed from every element.
  remove,
  /// Kept where the allowlist allows it, when its value is one of _blank,
  /// _self, _parent, _top.
  allow,
  /// Set to "_blank" on every link with an href (any input value dropped).
  force_blank,
};

struct html_sanitizer_options {
  /// Allowed element names, lower case ("p", "a"). Each must be an HTML
  /// element gumbo knows; unknown names, svg, math, noscript, script,
  /// template, form controls, frames and plugin elements throw
  /// config_error. Of the raw-text elements only style and title may be
  /// allowed. Allowing table requires tbody (browsers insert it).
  std::vector<std::string> tags;
  /// Attributes allowed on every allowed element ("title", "lang").
  std::vector<std::string> global_attributes;
  /// Attributes allowed per element: {"a", {"href"}}. The key must be an
  /// allowed tag. Names are lower case [a-z0-9_.:-]; `on*` and `srcdoc`
  /// throw config_error.
  std::map<std::string, std::vector<std::string>> attributes;
  /// Schemes allowed in URL attributes (href, src, action, formaction,
  /// cite, poster, background, longdesc, usemap, ping, xlink:href, and each
  /// srcset entry), lower case. javascript, vbscript and data throw.
  std::vector<std::string> url_schemes{"http", "https", "mailto"};
  /// Allow URLs without a scheme ("/a", "page.html", "#top", "?q").
  bool allow_relative_urls = true;
  /// Allow `data-*` attributes (names data-[a-z0-9_.-]+) on allowed elements.
  bool allow_data_attributes = false;
  /// Give every `a` with an href rel="noopener noreferrer" (replacing any
  /// rel of the input), so a linked page cannot reach window.opener.
  bool force_noopener = true;
  link_target target = link_target::remove;
  removed_content removed = removed_content::keep;
  /// Elements nested deeper than this are unwrapped; input whose markup
  /// nests deeper than this (counted before parsing) is refused. 1 to 256.
  std::size_t max_depth = 128;
  /// Input larger than this many bytes is refused before parsing.
  std::size_t max_input_bytes = 256 * 1024;
  /// Input with more start tags than this is refused before parsing.
  std::size_t max_start_tags = 10000;

  /// `b i em strong a p br`, `href` on `a` only; links get
  /// rel="noopener noreferrer"; other elements are unwrapped.
  static html_sanitizer_options strict();

  /// Rich text as editors produce it: headings h1–h6, p, br, hr, div, span,
  /// blockquote (cite), pre, code, kbd, samp, b, i, u, s, em, strong,
  /// small, sub, sup, mark, del and ins (cite, datetime), abbr, q (cite),
  /// ul, ol (start, reversed), li, dl, dt, dd, a (href, title), img (src,
  /// srcset, alt, title, width, height), figure, figcaption, table,
  /// caption, thead, tbody, tfoot, tr, th and td (colspan, rowspan,
  /// scope); `title` and `lang` and `dir` everywhere.
  static html_sanitizer_options rich_text();
};

/// Why sanitize() refused an input (before parsing it).
enum class html_refusal {
  none,
  too_large,      // more than max_input_bytes
  too_many_tags,  // more than max_start_tags
  too_deep,       // markup nests deeper than max_depth
};

/// The result of sanitize(): a value, never an exception.
struct sanitized_html {
  /// The sanitized HTML; empty when refused.
  std::string html;
  html_refusal refusal = html_refusal::none;
  /// Elements and attributes of the input that were removed (for logs).
  std::size_t removed_elements = 0;
  std::size_t removed_attributes = 0;

  explicit operator bool() const noexcept { return refusal == html_refusal::none; }
  /// "input is larger than the limit" etc.; "" when not refused.
  std::string_view refusal_message() const noexcept;
};

/// An allowlist sanitizer built once from options, then used from any
/// number of threads at once (sanitize() is const and keeps no state).
class html_sanitizer {
 public:
  /// Checks and compiles `options`. Throws config_error naming the option
  /// and the fix (an unknown or forbidden tag, an `on*` attribute, a
  /// forbidden scheme, max_depth outside 1..256, a limit of 0).
  explicit html_sanitizer(const html_sanitizer_options& options);

  /// Sanitizes `input` (UTF-8; invalid bytes become U+FFFD as a browser
  /// decodes them). Cost is linear in the input, bounded by the limits.
  sanitized_html sanitize(std::string_view input) const;

  /// Whether `input` would be refused, and why, without parsing it.
  html_refusal check_limits(std::string_view input) const noexcept;

  /// The checked allowlist; defined where it is used, in the .cpp.
  struct compiled;

 private:
  std::shared_ptr<const compiled> compiled_;
};

}  // namespace portcullis
