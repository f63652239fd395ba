// The allowlist HTML sanitizer on gumbo; see html_sanitizer.hpp.
//
// The work is three steps: a cheap scan that refuses input over the limits
// before gumbo sees it, gumbo's parse of the input as a whole document, and
// a walk over the body's children that writes allowed nodes with our own
// serializer. The walk tracks the elements it has written, so that it can
// refuse nesting a browser would restructure when it parses the output.
#include "portcullis/html_sanitizer.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/detail/utf8.hpp"
#include "portcullis/errc.hpp"
#include "portcullis/escape.hpp"

#include <gumbo.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <initializer_list>

namespace portcullis {
namespace {

constexpr std::size_t tag_count = GUMBO_TAG_LAST;
using tag_set = std::bitset<tag_count>;

tag_set tags_of(std::initializer_list<GumboTag> tags) {
  tag_set set;
  for (GumboTag t : tags) set.set(t);
  return set;
}

// Elements whose content is not markup (raw text, RCDATA, plaintext) or is
// a separate document (template). Dropped with their content unless allowed.
const tag_set raw_text_tags =
    tags_of({GUMBO_TAG_SCRIPT, GUMBO_TAG_STYLE, GUMBO_TAG_NOSCRIPT, GUMBO_TAG_XMP, GUMBO_TAG_IFRAME,
             GUMBO_TAG_NOEMBED, GUMBO_TAG_NOFRAMES, GUMBO_TAG_PLAINTEXT, GUMBO_TAG_TITLE,
             GUMBO_TAG_TEXTAREA, GUMBO_TAG_TEMPLATE});

// Elements that can never be allowed: they run or load active content, are
// parsed differently by gumbo and browsers, belong to the document's
// head, or have form-owner and content-model rules we do not model.
const tag_set forbidden_tags =
    tags_of({GUMBO_TAG_SCRIPT,   GUMBO_TAG_NOSCRIPT, GUMBO_TAG_XMP,       GUMBO_TAG_IFRAME,
             GUMBO_TAG_NOEMBED,  GUMBO_TAG_NOFRAMES, GUMBO_TAG_PLAINTEXT, GUMBO_TAG_TEXTAREA,
             GUMBO_TAG_TEMPLATE, GUMBO_TAG_HTML,     GUMBO_TAG_HEAD,      GUMBO_TAG_BODY,
             GUMBO_TAG_BASE,     GUMBO_TAG_LINK,     GUMBO_TAG_META,      GUMBO_TAG_FRAMESET,
             GUMBO_TAG_FRAME,    GUMBO_TAG_SVG,      GUMBO_TAG_MATH,      GUMBO_TAG_FORM,
             GUMBO_TAG_INPUT,    GUMBO_TAG_BUTTON,   GUMBO_TAG_SELECT,    GUMBO_TAG_OPTION,
             GUMBO_TAG_OPTGROUP, GUMBO_TAG_DATALIST, GUMBO_TAG_KEYGEN,    GUMBO_TAG_OBJECT,
             GUMBO_TAG_EMBED,    GUMBO_TAG_APPLET,   GUMBO_TAG_PARAM,     GUMBO_TAG_ISINDEX,
             GUMBO_TAG_IMAGE,    GUMBO_TAG_MENUITEM, GUMBO_TAG_NEXTID});

const tag_set void_tags =
    tags_of({GUMBO_TAG_AREA, GUMBO_TAG_BASE, GUMBO_TAG_BR, GUMBO_TAG_COL, GUMBO_TAG_EMBED,
             GUMBO_TAG_HR, GUMBO_TAG_IMG, GUMBO_TAG_INPUT, GUMBO_TAG_KEYGEN, GUMBO_TAG_LINK,
             GUMBO_TAG_META, GUMBO_TAG_PARAM, GUMBO_TAG_SOURCE, GUMBO_TAG_TRACK, GUMBO_TAG_WBR,
             GUMBO_TAG_BASEFONT, GUMBO_TAG_BGSOUND, GUMBO_TAG_FRAME});

// Start tags that close an open <p> in button scope (HTML "in body"
// insertion mode; table too, as the implied doctype means no quirks).
const tag_set closes_p_tags =
    tags_of({GUMBO_TAG_ADDRESS,   GUMBO_TAG_ARTICLE,  GUMBO_TAG_ASIDE,      GUMBO_TAG_BLOCKQUOTE,
             GUMBO_TAG_CENTER,    GUMBO_TAG_DETAILS,  GUMBO_TAG_DIR,        GUMBO_TAG_DIV,
             GUMBO_TAG_DL,        GUMBO_TAG_FIELDSET, GUMBO_TAG_FIGCAPTION, GUMBO_TAG_FIGURE,
             GUMBO_TAG_FOOTER,    GUMBO_TAG_HEADER,   GUMBO_TAG_HGROUP,     GUMBO_TAG_MAIN,
             GUMBO_TAG_MENU,      GUMBO_TAG_NAV,      GUMBO_TAG_OL,         GUMBO_TAG_P,
             GUMBO_TAG_SECTION,   GUMBO_TAG_SUMMARY,  GUMBO_TAG_UL,         GUMBO_TAG_H1,
             GUMBO_TAG_H2,        GUMBO_TAG_H3,       GUMBO_TAG_H4,         GUMBO_TAG_H5,
             GUMBO_TAG_H6,        GUMBO_TAG_PRE,      GUMBO_TAG_LISTING,    GUMBO_TAG_FORM,
             GUMBO_TAG_PLAINTEXT, GUMBO_TAG_XMP,      GUMBO_TAG_TABLE,      GUMBO_TAG_HR,
             GUMBO_TAG_LI,        GUMBO_TAG_DD,       GUMBO_TAG_DT});

// Elements that end the search for an open <p> ("button scope").
const tag_set button_scope_tags = tags_of(
    {GUMBO_TAG_APPLET, GUMBO_TAG_CAPTION, GUMBO_TAG_HTML, GUMBO_TAG_TABLE, GUMBO_TAG_TD,
     GUMBO_TAG_TH, GUMBO_TAG_MARQUEE, GUMBO_TAG_OBJECT, GUMBO_TAG_TEMPLATE, GUMBO_TAG_BUTTON});

// Markers of the list of active formatting elements: a nested <a> below
// one of these is not closed by the adoption agency.
const tag_set marker_tags =
    tags_of({GUMBO_TAG_APPLET, GUMBO_TAG_OBJECT, GUMBO_TAG_MARQUEE, GUMBO_TAG_TEMPLATE,
             GUMBO_TAG_TD, GUMBO_TAG_TH, GUMBO_TAG_CAPTION});

const tag_set heading_tags =
    tags_of({GUMBO_TAG_H1, GUMBO_TAG_H2, GUMBO_TAG_H3, GUMBO_TAG_H4, GUMBO_TAG_H5, GUMBO_TAG_H6});

// The "special" category, less address, div and p: the elements that stop
// the search for an open <li>, <dd> or <dt> when a new one starts. main is
// left out: gumbo 0.10.1 does not count it as special and so closes an <li>
// across a <main>, which browsers do not; stopping only where both stop
// keeps the output stable under both.
const tag_set list_stop_tags = [] {
  tag_set set =
      tags_of({GUMBO_TAG_APPLET,  GUMBO_TAG_AREA,     GUMBO_TAG_ARTICLE,    GUMBO_TAG_ASIDE,
               GUMBO_TAG_BASE,    GUMBO_TAG_BASEFONT, GUMBO_TAG_BGSOUND,    GUMBO_TAG_BLOCKQUOTE,
               GUMBO_TAG_BODY,    GUMBO_TAG_BR,       GUMBO_TAG_BUTTON,     GUMBO_TAG_CAPTION,
               GUMBO_TAG_CENTER,  GUMBO_TAG_COL,      GUMBO_TAG_COLGROUP,   GUMBO_TAG_DD,
               GUMBO_TAG_DETAILS, GUMBO_TAG_DIR,      GUMBO_TAG_DL,         GUMBO_TAG_DT,
               GUMBO_TAG_EMBED,   GUMBO_TAG_FIELDSET, GUMBO_TAG_FIGCAPTION, GUMBO_TAG_FIGURE,
               GUMBO_TAG_FOOTER,  GUMBO_TAG_FORM,     GUMBO_TAG_FRAME,      GUMBO_TAG_FRAMESET,
               GUMBO_TAG_HEAD,    GUMBO_TAG_HEADER,   GUMBO_TAG_HGROUP,     GUMBO_TAG_HR,
               GUMBO_TAG_HTML,    GUMBO_TAG_IFRAME,   GUMBO_TAG_IMG,        GUMBO_TAG_INPUT,
               GUMBO_TAG_KEYGEN,  GUMBO_TAG_LI,       GUMBO_TAG_LINK,       GUMBO_TAG_LISTING,
               GUMBO_TAG_MARQUEE, GUMBO_TAG_MENU,     GUMBO_TAG_META,       GUMBO_TAG_NAV,
               GUMBO_TAG_NOEMBED, GUMBO_TAG_NOFRAMES, GUMBO_TAG_NOSCRIPT,   GUMBO_TAG_OBJECT,
               GUMBO_TAG_OL,      GUMBO_TAG_PARAM,    GUMBO_TAG_PLAINTEXT,  GUMBO_TAG_PRE,
               GUMBO_TAG_SCRIPT,  GUMBO_TAG_SECTION,  GUMBO_TAG_SELECT,     GUMBO_TAG_SOURCE,
               GUMBO_TAG_STYLE,   GUMBO_TAG_SUMMARY,  GUMBO_TAG_TABLE,      GUMBO_TAG_TBODY,
               GUMBO_TAG_TD,      GUMBO_TAG_TEMPLATE, GUMBO_TAG_TEXTAREA,   GUMBO_TAG_TFOOT,
               GUMBO_TAG_TH,      GUMBO_TAG_THEAD,    GUMBO_TAG_TITLE,      GUMBO_TAG_TR,
               GUMBO_TAG_TRACK,   GUMBO_TAG_UL,       GUMBO_TAG_WBR,        GUMBO_TAG_XMP});
  return set | heading_tags;
}();

// Table structure: inside these, text and elements other than the proper
// children are moved out of the table by the parser ("foster parenting").
const tag_set table_section_tags = tags_of({GUMBO_TAG_TBODY, GUMBO_TAG_THEAD, GUMBO_TAG_TFOOT});
const tag_set table_context_tags = tags_of({GUMBO_TAG_TABLE, GUMBO_TAG_TBODY, GUMBO_TAG_THEAD,
                                            GUMBO_TAG_TFOOT, GUMBO_TAG_TR, GUMBO_TAG_COLGROUP});
const tag_set ruby_tags = tags_of({GUMBO_TAG_RB, GUMBO_TAG_RT, GUMBO_TAG_RP, GUMBO_TAG_RTC});

// What "generate implied end tags" closes: the current node, as long as it
// is one of these. gumbo 0.10.1 leaves out rb and rtc, so it closes less.
const tag_set implied_end_tags =
    tags_of({GUMBO_TAG_DD, GUMBO_TAG_DT, GUMBO_TAG_LI, GUMBO_TAG_OPTGROUP, GUMBO_TAG_OPTION,
             GUMBO_TAG_P, GUMBO_TAG_RB, GUMBO_TAG_RP, GUMBO_TAG_RT, GUMBO_TAG_RTC});

// Elements that end the search of "has an element in scope" (the default
// scope; foreign elements never reach the writer's stack).
const tag_set scope_tags =
    tags_of({GUMBO_TAG_APPLET, GUMBO_TAG_CAPTION, GUMBO_TAG_HTML, GUMBO_TAG_TABLE, GUMBO_TAG_TD,
             GUMBO_TAG_TH, GUMBO_TAG_MARQUEE, GUMBO_TAG_OBJECT, GUMBO_TAG_TEMPLATE});

// Attributes whose value is a URL (or, for ping, a list of them).
constexpr std::string_view url_attributes[] = {
    "action", "background", "cite",     "codebase", "data",   "dynsrc",     "formaction",
    "href",   "longdesc",   "lowsrc",   "manifest", "poster", "profile",    "src",
    "usemap", "xlink:href", "itemtype", "ping",     "srcset", "imagesrcset"};

bool is_url_attribute(std::string_view name) noexcept {
  return std::find(std::begin(url_attributes), std::end(url_attributes), name) !=
         std::end(url_attributes);
}

using detail::ascii_lower;
using detail::is_ascii_alpha;

constexpr bool is_html_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

bool valid_name(std::string_view name, bool allow_colon) noexcept {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == '.' || (allow_colon && c == ':');
    if (!ok) return false;
  }
  return true;
}

bool is_data_attribute(std::string_view name) noexcept {
  return name.size() > 5 && name.starts_with("data-") && valid_name(name.substr(5), false);
}

bool valid_scheme(std::string_view scheme) noexcept {
  if (scheme.empty() || !is_ascii_alpha(scheme.front())) return false;
  return std::all_of(scheme.begin(), scheme.end(), [](char c) {
    return detail::is_ascii_alnum(c) || c == '+' || c == '-' || c == '.';
  });
}

// The names of elements the pre-parse scan does not count for depth: void
// elements never nest, and those whose end tag is optional are closed by
// their next sibling. Raw-text elements are skipped over.
bool counts_for_depth(std::string_view name) noexcept {
  static constexpr std::string_view flat[] = {
      "area",     "base",    "br",    "col",      "embed",  "hr",    "img", "input",
      "keygen",   "link",    "meta",  "param",    "source", "track", "wbr", "image",
      "basefont", "bgsound", "frame", "p",        "li",     "dt",    "dd",  "option",
      "optgroup", "rb",      "rt",    "rtc",      "rp",     "tr",    "td",  "th",
      "thead",    "tbody",   "tfoot", "colgroup", "html",   "head",  "body"};
  return std::find(std::begin(flat), std::end(flat), name) == std::end(flat);
}

bool is_raw_text_name(std::string_view name) noexcept {
  static constexpr std::string_view raw[] = {"script",  "style",    "noscript", "xmp",     "iframe",
                                             "noembed", "noframes", "title",    "textarea"};
  return std::find(std::begin(raw), std::end(raw), name) != std::end(raw);
}

// Characters that gumbo 0.10.1 and browsers read differently when they
// appear raw in the input: gumbo turns them into U+FFFD, browsers keep
// them. They are C0 controls other than tab, LF, FF and CR, DEL, C1
// controls and noncharacters; they carry nothing in text, so the
// serializer drops them and the output reads the same everywhere. Returns
// the length of such a character at `i`, or 0.
std::size_t unstable_char_at(std::string_view t, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) {
    return i + k < t.size() ? static_cast<unsigned char>(t[i + k]) : 0u;
  };
  const unsigned c = b(0);
  if (c < 0x20) return (c == '\t' || c == '\n' || c == '\f' || c == '\r') ? 0 : 1;
  if (c == 0x7F) return 1;
  if (c == 0xC2 && b(1) >= 0x80 && b(1) <= 0x9F) return 2;                    // U+0080-009F
  if (c == 0xEF && b(1) == 0xB7 && b(2) >= 0x90 && b(2) <= 0xAF) return 3;    // U+FDD0-FDEF
  if (c == 0xEF && b(1) == 0xBF && (b(2) == 0xBE || b(2) == 0xBF)) return 3;  // U+FFFE/F
  if (c >= 0xF0 && c <= 0xF4 && (b(1) & 0x0F) == 0x0F && b(2) == 0xBF &&
      (b(3) == 0xBE || b(3) == 0xBF))
    return 4;  // U+nFFFE/F
  return 0;
}

// Appends `t` escaped, without the characters unstable_char_at() finds. A
// carriage return (only ever there from a reference such as `&#xD`: the
// parser turns a raw one into LF) is written as `&#13;`; written raw, the
// next parse would read LF, and sanitizing the output again would change it
// (found by fuzzing). Bytes that are not UTF-8 are written as U+FFFD, which
// is what the next parse reads them as: gumbo 0.10.1 puts one raw byte in
// the tree for a numeric reference whose value overflows its int
// (`&#x88888888` gives the byte 0x88; found by fuzzing).
void append_clean_escaped(std::string& out, std::string_view t) {
  std::size_t i = 0;
  std::size_t run = 0;
  while (i < t.size()) {
    const auto c = static_cast<unsigned char>(t[i]);
    if (c >= 0x20 && c < 0x7F) {
      ++i;
      continue;
    }

    // Decide what replaces the character at i, if anything.
    std::string_view replacement;
    std::size_t length = 0;
    if (c == '\r') {
      replacement = "&#13;";
      length = 1;
    } else if (c >= 0x80) {
      const detail::utf8_step step = detail::decode_utf8(t, i);
      if (!step.valid) {
        replacement = "\xEF\xBF\xBD";
        length = step.length;
      } else if ((length = unstable_char_at(t, i)) == 0) {
        i += step.length;
        continue;
      }
    } else if ((length = unstable_char_at(t, i)) == 0) {
      ++i;
      continue;
    }

    append_escaped_html(out, t.substr(run, i - run));
    out.append(replacement);
    i += length;
    run = i;
  }
  append_escaped_html(out, t.substr(run));
}

// Case-insensitive search for `</name` from `from`.
std::size_t find_end_tag(std::string_view s, std::size_t from, std::string_view name) {
  for (std::size_t i = s.find("</", from); i != std::string_view::npos; i = s.find("</", i + 1)) {
    if (i + 2 + name.size() > s.size()) return std::string_view::npos;
    bool match = true;
    for (std::size_t k = 0; k < name.size() && match; ++k)
      match = ascii_lower(s[i + 2 + k]) == name[k];
    if (match) return i;
  }
  return std::string_view::npos;
}

}  // namespace

// ---------------------------------------------------------------------------
// Options

html_sanitizer_options html_sanitizer_options::strict() {
  html_sanitizer_options o;
  o.tags = {"b", "i", "em", "strong", "a", "p", "br"};
  o.attributes = {{"a", {"href"}}};
  return o;
}

html_sanitizer_options html_sanitizer_options::rich_text() {
  html_sanitizer_options o;
  o.tags = {"h1",    "h2",      "h3",    "h4",         "h5",    "h6",     "p",      "br",
            "hr",    "div",     "span",  "blockquote", "pre",   "code",   "kbd",    "samp",
            "b",     "i",       "u",     "s",          "em",    "strong", "small",  "sub",
            "sup",   "mark",    "del",   "ins",        "abbr",  "q",      "ul",     "ol",
            "li",    "dl",      "dt",    "dd",         "a",     "img",    "figure", "figcaption",
            "table", "caption", "thead", "tbody",      "tfoot", "tr",     "th",     "td"};
  o.global_attributes = {"title", "lang", "dir"};
  o.attributes = {{"a", {"href"}},
                  {"img", {"src", "srcset", "alt", "width", "height"}},
                  {"blockquote", {"cite"}},
                  {"q", {"cite"}},
                  {"del", {"cite", "datetime"}},
                  {"ins", {"cite", "datetime"}},
                  {"ol", {"start", "reversed"}},
                  {"th", {"colspan", "rowspan", "scope"}},
                  {"td", {"colspan", "rowspan"}}};
  return o;
}

std::string_view sanitized_html::refusal_message() const noexcept {
  switch (refusal) {
    case html_refusal::none:
      return "";
    case html_refusal::too_large:
      return "HTML input is larger than the limit";
    case html_refusal::too_many_tags:
      return "HTML input has more tags than the limit";
    case html_refusal::too_deep:
      return "HTML input nests deeper than the limit";
  }
  return "";
}

// ---------------------------------------------------------------------------
// The compiled allowlist

struct html_sanitizer::compiled {
  html_sanitizer_options options;
  tag_set allowed;
  std::vector<std::string> global;                          // sorted
  std::array<std::vector<std::string>, tag_count> per_tag;  // sorted

  bool attribute_allowed(GumboTag tag, std::string_view name) const {
    const auto& own = per_tag[tag];
    return std::binary_search(own.begin(), own.end(), name) ||
           std::binary_search(global.begin(), global.end(), name) ||
           (options.allow_data_attributes && is_data_attribute(name));
  }

  bool scheme_allowed(std::string_view scheme) const {
    return std::find(options.url_schemes.begin(), options.url_schemes.end(), scheme) !=
           options.url_schemes.end();
  }

  bool url_allowed(std::string_view value) const;
  bool srcset_allowed(std::string_view value) const;
};

namespace {

GumboTag known_tag(const std::string& name) {
  return gumbo_tagn_enum(name.data(), static_cast<unsigned>(name.size()));
}

void check_attribute_name(const std::string& name, const char* option) {
  if (!valid_name(name, true))
    throw config_error(std::string("html_sanitizer: ") + option + " '" + name +
                       "' is not a lower-case attribute name [a-z0-9_.:-]; write it so");
  if (name.starts_with("on"))
    throw config_error(std::string("html_sanitizer: ") + option + " '" + name +
                       "' is an event handler, which runs script; remove it");
  if (name == "srcdoc")
    throw config_error(std::string("html_sanitizer: ") + option +
                       " 'srcdoc' holds a whole document; remove it");
}

}  // namespace

html_sanitizer::html_sanitizer(const html_sanitizer_options& options) {
  auto c = std::make_shared<compiled>();
  c->options = options;

  for (const auto& name : options.tags) {
    const GumboTag tag = known_tag(name);
    if (tag == GUMBO_TAG_UNKNOWN || name != gumbo_normalized_tagname(tag))
      throw config_error("html_sanitizer: tag '" + name +
                         "' is not a lower-case HTML element name that gumbo knows; "
                         "custom elements cannot be allowed");
    if (forbidden_tags.test(tag))
      throw config_error("html_sanitizer: tag '" + name +
                         "' can never be allowed (active content, a form control, a "
                         "document-level element, or content browsers parse differently)");
    c->allowed.set(tag);
  }
  if (c->allowed.test(GUMBO_TAG_TABLE) && !c->allowed.test(GUMBO_TAG_TBODY))
    throw config_error(
        "html_sanitizer: tag 'table' is allowed without 'tbody'; allow tbody "
        "too, since browsers insert it around rows");

  for (const auto& name : options.global_attributes) {
    check_attribute_name(name, "global attribute");
    c->global.push_back(name);
  }
  std::sort(c->global.begin(), c->global.end());
  for (const auto& [tag_name, names] : options.attributes) {
    const GumboTag tag = known_tag(tag_name);
    if (tag == GUMBO_TAG_UNKNOWN || !c->allowed.test(tag))
      throw config_error("html_sanitizer: attributes are given for tag '" + tag_name +
                         "', which is not in tags; add the tag or remove its attributes");
    for (const auto& name : names) check_attribute_name(name, "attribute");
    auto& own = c->per_tag[tag];
    own.insert(own.end(), names.begin(), names.end());
    std::sort(own.begin(), own.end());
  }

  for (const auto& scheme : options.url_schemes) {
    if (!valid_scheme(scheme) ||
        !std::all_of(scheme.begin(), scheme.end(), [](char ch) { return ascii_lower(ch) == ch; }))
      throw config_error("html_sanitizer: url scheme '" + scheme +
                         "' is not a lower-case scheme name without ':'; write it as \"https\"");
    if (scheme == "javascript" || scheme == "vbscript" || scheme == "data")
      throw config_error("html_sanitizer: url scheme '" + scheme +
                         "' runs script or embeds documents and can never be allowed; remove it");
  }
  if (options.max_depth < 1 || options.max_depth > 256)
    throw config_error(
        "html_sanitizer: max_depth must be 1 to 256 (browsers restructure trees "
        "deeper than 512); lower it");
  if (options.max_input_bytes == 0 || options.max_input_bytes > (std::size_t{1} << 30))
    throw config_error("html_sanitizer: max_input_bytes must be 1 byte to 1 GiB; set a limit");
  if (options.max_start_tags == 0)
    throw config_error("html_sanitizer: max_start_tags is 0; set a positive limit");
  compiled_ = std::move(c);
}

// A URL attribute passes when, after removing every control character and
// space (browsers strip some of them and ignore tabs and newlines anywhere),
// it has no scheme and relative URLs are allowed, or has an allowed scheme.
// Text before the first ':' that is not a valid scheme name (and not a
// path, query or fragment) is refused: it is neither clearly relative nor a
// scheme we know.
bool html_sanitizer::compiled::url_allowed(std::string_view value) const {
  std::string cleaned;
  cleaned.reserve(value.size());
  for (char ch : value) {
    const auto u = static_cast<unsigned char>(ch);
    if (u > 0x20 && u != 0x7F) cleaned.push_back(ch);
  }
  const auto colon = cleaned.find(':');
  const auto delimiter = cleaned.find_first_of("/?#");
  if (colon == std::string::npos || (delimiter != std::string::npos && delimiter < colon))
    return options.allow_relative_urls;
  std::string scheme = cleaned.substr(0, colon);
  if (!valid_scheme(scheme)) return false;
  for (char& ch : scheme) ch = ascii_lower(ch);
  return scheme_allowed(scheme);
}

// srcset is a comma-separated list of "URL [descriptor]". Each URL is read
// as the HTML standard reads it (a run of non-space characters, trailing
// commas removed); in addition every word that holds a ':' is checked.
bool html_sanitizer::compiled::srcset_allowed(std::string_view value) const {
  std::size_t at = 0;
  while (at < value.size()) {
    while (at < value.size() && (is_html_space(value[at]) || value[at] == ',')) ++at;
    if (at >= value.size()) break;
    std::size_t end = at;
    while (end < value.size() && !is_html_space(value[end])) ++end;
    std::string_view url = value.substr(at, end - at);
    const bool ends_candidate = url.back() == ',';
    while (!url.empty() && url.back() == ',') url.remove_suffix(1);
    if (!url_allowed(url)) return false;
    at = end;
    if (!ends_candidate) {
      // Skip the descriptors up to the next comma outside parentheses.
      int parens = 0;
      while (at < value.size() && (parens > 0 || value[at] != ',')) {
        if (value[at] == '(') ++parens;
        if (value[at] == ')' && parens > 0) --parens;
        ++at;
      }
    }
  }
  // Every other word with a ':' must pass too: a reader that splits
  // differently (or a later candidate the standard drops as malformed)
  // must not find a URL we did not check. Descriptors (1x, 100w) have none.
  for (std::size_t start = 0; start < value.size();) {
    const auto end = std::min(value.find_first_of(" \t\n\f\r,", start), value.size());
    const auto word = value.substr(start, end - start);
    if (word.find(':') != std::string_view::npos && !url_allowed(word)) return false;
    start = end + 1;
  }
  return true;
}

// ---------------------------------------------------------------------------
// The scan before parsing

html_refusal html_sanitizer::check_limits(std::string_view s) const noexcept {
  const auto& o = compiled_->options;
  if (s.size() > o.max_input_bytes) return html_refusal::too_large;

  // A small tokenizer: comments, declarations, end tags, start tags with
  // quoted attribute values, and raw-text elements skipped to their end
  // tag. Its depth is an estimate (it does not run the tree builder); the
  // walk after parsing enforces max_depth exactly.
  std::size_t tags = 0, depth = 0;
  std::size_t i = 0;
  const std::size_t n = s.size();
  std::string name;
  while (i < n) {
    i = s.find('<', i);
    if (i == std::string_view::npos || i + 1 >= n) break;
    const char next = s[i + 1];
    if (s.compare(i, 4, "<!--") == 0) {
      const auto end = s.find("-->", i + 4);
      i = end == std::string_view::npos ? n : end + 3;
      continue;
    }
    if (next == '!' || next == '?') {
      const auto end = s.find('>', i + 2);
      i = end == std::string_view::npos ? n : end + 1;
      continue;
    }
    const bool end_tag = next == '/';
    const std::size_t name_at = i + (end_tag ? 2 : 1);
    if (name_at >= n || !is_ascii_alpha(s[name_at])) {
      ++i;
      continue;
    }
    name.clear();
    std::size_t j = name_at;
    while (j < n && !is_html_space(s[j]) && s[j] != '/' && s[j] != '>') {
      if (name.size() < 16) name.push_back(ascii_lower(s[j]));
      ++j;
    }
    // Attributes: names, '=', values (quoted or not), up to '>'.
    while (j < n && s[j] != '>') {
      if (s[j] == '=') {
        ++j;
        while (j < n && is_html_space(s[j])) ++j;
        if (j < n && (s[j] == '"' || s[j] == '\'')) {
          const auto close = s.find(s[j], j + 1);
          j = close == std::string_view::npos ? n : close + 1;
          continue;
        }
      }
      ++j;
    }
    i = j < n ? j + 1 : n;

    if (end_tag) {
      if (depth > 0 && counts_for_depth(name)) --depth;
      continue;
    }
    if (++tags > o.max_start_tags) return html_refusal::too_many_tags;
    if (name == "plaintext") break;
    if (is_raw_text_name(name)) {
      const auto end = find_end_tag(s, i, name);
      i = end == std::string_view::npos ? n : end;
      continue;
    }
    if (counts_for_depth(name) && ++depth > o.max_depth) return html_refusal::too_deep;
  }
  return html_refusal::none;
}

// ---------------------------------------------------------------------------
// The walk and the serializer

namespace {

using compiled_t = html_sanitizer::compiled;

// Beyond this many levels of gumbo's tree the walk stops descending (the
// scan keeps real input far below it; this bounds the C++ stack).
constexpr std::size_t max_walk_depth = 2048;

class writer {
 public:
  writer(const compiled_t& c, sanitized_html& result) : c_(c), r_(result) {
    stack_.reserve(c.options.max_depth);
  }

  void children(const GumboNode* node, std::size_t walk_depth) {
    const GumboVector& kids = node->v.element.children;
    for (unsigned k = 0; k < kids.length; ++k)
      this->node(static_cast<const GumboNode*>(kids.data[k]), walk_depth + 1);
  }

 private:
  void node(const GumboNode* n, std::size_t walk_depth) {
    switch (n->type) {
      case GUMBO_NODE_TEXT:
      case GUMBO_NODE_WHITESPACE:
      case GUMBO_NODE_CDATA:
        text(n->v.text.text);
        return;
      case GUMBO_NODE_ELEMENT:
        element(n, walk_depth);
        return;
      default:  // comments, templates, documents
        ++r_.removed_elements;
        return;
    }
  }

  GumboTag parent() const { return stack_.empty() ? GUMBO_TAG_BODY : stack_.back(); }

  void text(std::string_view t) {
    // Inside table structure the parser moves text out of the table;
    // white space alone stays, anything else is dropped. The white space is
    // escaped too: a carriage return from a reference must stay one
    // (`<table>&#13;<tbody>`, the carriage-return finding's other path).
    if (table_context_tags.test(parent())) {
      if (std::all_of(t.begin(), t.end(), is_html_space)) append_clean_escaped(out_, t);
      return;
    }
    if (parent() == GUMBO_TAG_STYLE) {
      raw_text(t);
      return;
    }
    append_clean_escaped(out_, t);
  }

  // Content of an allowed <style>: cannot be escaped, so it is written
  // only when it cannot end the element early.
  void raw_text(std::string_view t) {
    if (find_end_tag(t, 0, "style") != std::string_view::npos) return;
    for (std::size_t i = 0; i < t.size();) {
      const std::size_t drop = unstable_char_at(t, i);
      if (drop == 0)
        out_.push_back(t[i++]);
      else
        i += drop;
    }
  }

  void element(const GumboNode* n, std::size_t walk_depth) {
    const GumboElement& e = n->v.element;
    const GumboTag tag = e.tag;

    // Foreign content and raw-text elements go with their content.
    if (e.tag_namespace != GUMBO_NAMESPACE_HTML || tag >= GUMBO_TAG_LAST ||
        (raw_text_tags.test(tag) && !c_.allowed.test(tag)) || walk_depth > max_walk_depth) {
      ++r_.removed_elements;
      return;
    }

    const bool keep = tag != GUMBO_TAG_UNKNOWN && c_.allowed.test(tag) &&
                      stack_.size() < c_.options.max_depth && fits(tag);
    if (!keep) {
      ++r_.removed_elements;
      // In table structure the content of a removed element would be
      // moved out of the table by the parser: drop it.
      if (c_.options.removed == removed_content::drop || table_context_tags.test(parent())) return;
      children(n, walk_depth);
      return;
    }

    const std::string_view name = gumbo_normalized_tagname(tag);
    out_.push_back('<');
    out_.append(name);
    attributes(tag, e.attributes);
    out_.push_back('>');
    if (void_tags.test(tag)) return;

    stack_.push_back(tag);
    const std::size_t content_at = out_.size();
    children(n, walk_depth);
    stack_.pop_back();
    // The parser drops a newline right after <pre> or <listing>; write one
    // more so that a leading newline of the content survives a re-parse.
    if ((tag == GUMBO_TAG_PRE || tag == GUMBO_TAG_LISTING) && content_at < out_.size() &&
        out_[content_at] == '\n')
      out_.insert(content_at, 1, '\n');
    out_.append("</");
    out_.append(name);
    out_.push_back('>');
  }

  // Whether a browser parsing the output would put `tag` where we are
  // about to write it (inside the elements on stack_).
  //
  // Why checking start tags against stack_ is enough: the output is
  // balanced, each element closed by its own end tag while it is the
  // current node, so no end tag restructures anything, and the parser's
  // state at each start tag (open elements, active formatting elements,
  // insertion mode) follows from stack_ alone (the newline dropped after
  // <pre> is handled in element()). The only way a re-parse can build
  // another tree is a start tag that closes or moves an open element; for
  // every element that can be allowed, the rules below refuse those
  // placements (option, optgroup, select and the other elements with such
  // rules can never be allowed). Where gumbo 0.10.1 and the standard
  // differ, a placement either parser would change is refused, so the
  // output is stable under both. Text is handled in text().
  bool fits(GumboTag tag) const {
    const GumboTag p = parent();

    // Table structure: only the proper children, only in their parents.
    if (p == GUMBO_TAG_TABLE)
      return tag == GUMBO_TAG_CAPTION || tag == GUMBO_TAG_COLGROUP || table_section_tags.test(tag);
    if (table_section_tags.test(p)) return tag == GUMBO_TAG_TR;
    if (p == GUMBO_TAG_TR) return tag == GUMBO_TAG_TD || tag == GUMBO_TAG_TH;
    if (p == GUMBO_TAG_COLGROUP) return tag == GUMBO_TAG_COL;
    if (tag == GUMBO_TAG_CAPTION || tag == GUMBO_TAG_COLGROUP || table_section_tags.test(tag))
      return false;
    if (tag == GUMBO_TAG_TR || tag == GUMBO_TAG_TD || tag == GUMBO_TAG_TH || tag == GUMBO_TAG_COL)
      return false;

    // A start tag that closes an open <p>.
    if (closes_p_tags.test(tag)) {
      for (auto it = stack_.rbegin(); it != stack_.rend(); ++it) {
        if (*it == GUMBO_TAG_P) return false;
        if (button_scope_tags.test(*it)) break;
      }
    }
    if (heading_tags.test(tag) && heading_tags.test(p)) return false;

    // A new <li> (or <dd>/<dt>) closes an open one unless a "special"
    // element other than address, div and p lies between them.
    if (tag == GUMBO_TAG_LI || tag == GUMBO_TAG_DD || tag == GUMBO_TAG_DT) {
      for (auto it = stack_.rbegin(); it != stack_.rend(); ++it) {
        const bool same = tag == GUMBO_TAG_LI ? *it == GUMBO_TAG_LI
                                              : (*it == GUMBO_TAG_DD || *it == GUMBO_TAG_DT);
        if (same) return false;
        if (list_stop_tags.test(*it)) break;
      }
    }

    // A nested <a> or <nobr> runs the adoption agency, up to a marker.
    if (tag == GUMBO_TAG_A || tag == GUMBO_TAG_NOBR) {
      for (auto it = stack_.rbegin(); it != stack_.rend(); ++it) {
        if (*it == tag) return false;
        if (marker_tags.test(*it)) break;
      }
    }

    // rp and rt (and rb and rtc in today's standard; gumbo 0.10.1 reads
    // those as ordinary elements) close the current node first while it is
    // in implied_end_tags, when a ruby element is in scope; rp and rt leave
    // an rtc open. A removed element between, as in `<ruby><p><r><rp>`,
    // would otherwise leave rp inside p, which the next parse moves out.
    if (ruby_tags.test(tag) && implied_end_tags.test(p)) {
      const bool keeps_rtc = tag == GUMBO_TAG_RP || tag == GUMBO_TAG_RT;
      if (!(keeps_rtc && p == GUMBO_TAG_RTC) && in_scope(GUMBO_TAG_RUBY)) return false;
    }
    return true;
  }

  // HTML's "has an element in scope" over the elements written so far.
  bool in_scope(GumboTag tag) const {
    for (auto it = stack_.rbegin(); it != stack_.rend(); ++it) {
      if (*it == tag) return true;
      if (scope_tags.test(*it)) return false;
    }
    return false;
  }

  void attributes(GumboTag tag, const GumboVector& attrs) {
    const bool is_link = tag == GUMBO_TAG_A || tag == GUMBO_TAG_AREA;
    bool has_href = false;
    for (unsigned k = 0; k < attrs.length; ++k) {
      const auto* a = static_cast<const GumboAttribute*>(attrs.data[k]);
      const std::string_view name = a->name;
      const std::string_view value = a->value;

      bool keep = a->attr_namespace == GUMBO_ATTR_NAMESPACE_NONE && valid_name(name, true) &&
                  !name.starts_with("on") && name != "srcdoc" && c_.attribute_allowed(tag, name);
      if (keep && is_link && name == "rel" && c_.options.force_noopener) keep = false;
      if (keep && name == "target") keep = target_allowed(value);
      if (keep && is_url_attribute(name)) keep = url_value_allowed(name, value);
      if (!keep) {
        ++r_.removed_attributes;
        continue;
      }
      if (is_link && name == "href") has_href = true;
      out_.push_back(' ');
      out_.append(name);
      out_.append("=\"");
      append_clean_escaped(out_, value);
      out_.push_back('"');
    }
    if (is_link && has_href) {
      if (c_.options.force_noopener) out_.append(" rel=\"noopener noreferrer\"");
      if (c_.options.target == link_target::force_blank) out_.append(" target=\"_blank\"");
    }
  }

  bool target_allowed(std::string_view value) const {
    if (c_.options.target != link_target::allow) return false;
    return value == "_blank" || value == "_self" || value == "_parent" || value == "_top";
  }

  bool url_value_allowed(std::string_view name, std::string_view value) const {
    if (name == "srcset" || name == "imagesrcset") return c_.srcset_allowed(value);
    if (name == "ping") {
      std::size_t at = 0;
      while (at < value.size()) {
        while (at < value.size() && is_html_space(value[at])) ++at;
        std::size_t end = at;
        while (end < value.size() && !is_html_space(value[end])) ++end;
        if (end > at && !c_.url_allowed(value.substr(at, end - at))) return false;
        at = end;
      }
      return true;
    }
    return c_.url_allowed(value);
  }

 public:
  std::string out_;

 private:
  const compiled_t& c_;
  sanitized_html& r_;
  std::vector<GumboTag> stack_;
};

const GumboNode* find_body(const GumboOutput* output) {
  const GumboNode* root = output->root;
  if (root == nullptr || root->type != GUMBO_NODE_ELEMENT) return nullptr;
  const GumboVector& kids = root->v.element.children;
  for (unsigned k = 0; k < kids.length; ++k) {
    const auto* n = static_cast<const GumboNode*>(kids.data[k]);
    if (n->type == GUMBO_NODE_ELEMENT && n->v.element.tag == GUMBO_TAG_BODY) return n;
  }
  return nullptr;  // a <frameset> replaced the body: nothing to keep
}

}  // namespace

sanitized_html html_sanitizer::sanitize(std::string_view input) const {
  sanitized_html result;
  result.refusal = check_limits(input);
  if (result.refusal != html_refusal::none) return result;

  // Parse as a whole document in no-quirks mode, body open: this is how a
  // browser reads markup assigned to an element's innerHTML, without
  // gumbo's fragment mode and its foreign-content difference. max_errors 0:
  // gumbo's error records would otherwise cost hundreds of MB on deep input.
  static constexpr std::string_view prologue = "<!DOCTYPE html><body>";
  std::string document;
  document.reserve(prologue.size() + input.size());
  document.append(prologue);
  document.append(input);

  GumboOptions options = kGumboDefaultOptions;
  options.max_errors = 0;
  GumboOutput* output = gumbo_parse_with_options(&options, document.data(), document.size());
  struct destroy {
    const GumboOptions* options;
    GumboOutput* output;
    ~destroy() { gumbo_destroy_output(options, output); }
  } guard{&options, output};

  writer w(*compiled_, result);
  w.out_.reserve(input.size());
  if (const GumboNode* body = find_body(output)) w.children(body, 0);
  result.html = std::move(w.out_);
  return result;
}

}  // namespace portcullis
