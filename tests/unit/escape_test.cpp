#include "portcullis/escape.hpp"

#include <gtest/gtest.h>

namespace portcullis {
namespace {

TEST(escape, replaces_the_five_characters) {
  EXPECT_EQ(escape_html(R"(<a href="x">Tom & 'Jerry'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  EXPECT_EQ(escape_html_attribute(R"(" onmouseover="alert(1))"),
            "&quot; onmouseover=&quot;alert(1)");
  EXPECT_EQ(escape_html_attribute("' autofocus onfocus='x"), "&#39; autofocus onfocus=&#39;x");
}

TEST(escape, leaves_other_text_alone) {
  EXPECT_EQ(escape_html(""), "");
  EXPECT_EQ(escape_html("plain text, ünïcödé, `backtick` = sign"),
            "plain text, ünïcödé, `backtick` = sign");
  EXPECT_EQ(escape_html("&amp;"), "&amp;amp;");  // escaping is not idempotent, by design
}

TEST(escape, append_form_appends) {
  std::string out = "<p>";
  append_escaped_html(out, "1 < 2");
  EXPECT_EQ(out, "<p>1 &lt; 2");
}

}  // namespace
}  // namespace portcullis
