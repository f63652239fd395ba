// portcullis/escape.hpp — HTML escaping for text and quoted attribute values.
//
// Escaping is what a service does when it puts untrusted text into HTML it
// writes itself; it is not sanitizing (see html_sanitizer.hpp for accepting
// HTML). Both functions replace the five characters that can end a text run
// or a quoted value: & < > " '.
//
//     std::string page = "<p title=\"" + portcullis::escape_html_attribute(name) + "\">" +
//                        portcullis::escape_html(comment) + "</p>";
//
// Supported contexts: element content (not inside <script>, <style> or other
// raw-text elements, whose content cannot be escaped at all) and attribute
// values inside double or single quotes. Unquoted attribute values are not
// supported: there a space, `=` or a backtick also ends the value, and no
// escaping of five characters makes that safe. Always quote. URLs need a
// scheme check besides escaping (an escaped `javascript:` still runs).
#pragma once

#include <string>
#include <string_view>

namespace portcullis {

/// Returns `text` with & < > " ' replaced by &amp; &lt; &gt; &quot; &#39;.
/// Bytes are copied as they are otherwise: the caller is responsible for
/// the text being UTF-8 (sanitize_string() in sanitize.hpp repairs it).
std::string escape_html(std::string_view text);

/// The same replacement, for a value placed between quotes (double or
/// single) in an attribute. Kept as its own name so that call sites say
/// which context they write into.
std::string escape_html_attribute(std::string_view value);

/// Appends the escaped form of `text` to `out` (no temporary string).
void append_escaped_html(std::string& out, std::string_view text);

}  // namespace portcullis
