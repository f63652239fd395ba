// Shared by the unit, browser and fuzz suites: a wide allowlist and a
// corpus of mutation-XSS and namespace-confusion inputs.
#pragma once

#include "portcullis/html_sanitizer.hpp"

namespace portcullis::test {

// A wide allowlist, near what DOMPurify allows by default, to exercise the
// serializer on more of each payload than the presets keep.
inline html_sanitizer_options wide() {
  auto o = html_sanitizer_options::rich_text();
  for (const char* t :
       {"section",  "article", "aside",   "nav",     "header",   "footer", "main",
        "address",  "center",  "font",    "big",     "tt",       "strike", "bdi",
        "bdo",      "ruby",    "rt",      "rp",      "rb",       "nobr",   "time",
        "cite",     "dfn",     "var",     "label",   "fieldset", "legend", "details",
        "summary",  "map",     "area",    "video",   "audio",    "source", "track",
        "colgroup", "col",     "listing", "marquee", "style",    "title",  "wbr"})
    o.tags.emplace_back(t);
  o.global_attributes.insert(o.global_attributes.end(), {"id", "class", "style", "name"});
  o.attributes["area"] = {"href", "shape", "coords", "alt", "ping"};
  o.attributes["video"] = {"src", "poster"};
  o.attributes["audio"] = {"src"};
  o.attributes["source"] = {"src", "srcset", "type"};
  o.attributes["a"] = {"href", "target", "ping"};
  o.allow_data_attributes = true;
  o.target = link_target::allow;
  return o;
}

// Mutation XSS and namespace confusion: inputs whose danger lies in how a
// parser rebuilds them, not in an obvious tag. Each must come out safe and
// stable under every allowlist.
inline const char* const mutation_corpus[] = {
    R"~(<svg><p><style><img src=x onerror=alert(1)></style></p></svg>)~",
    R"~(<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">)~",
    R"~(<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>)~",
    R"~(<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>)~",
    R"~(<math><mi><mglyph><svg><mtext><textarea><path id="</textarea><img onerror=alert(1) src=1>">)~",
    R"~(<noscript><p title="</noscript><img src=x onerror=alert(1)>">)~",
    R"~(<noembed><img title="</noembed><img src onerror=alert(1)>"></noembed>)~",
    R"~(<noframes><img title="</noframes><img src onerror=alert(1)>"></noframes>)~",
    R"~(<xmp><img title="</xmp><img src onerror=alert(1)>"></xmp>)~",
    R"~(<iframe><img title="</iframe><img src onerror=alert(1)>"></iframe>)~",
    R"~(<textarea><img title="</textarea><img src onerror=alert(1)>"></textarea>)~",
    R"~(<title><img title="</title><img src onerror=alert(1)>"></title>)~",
    R"~(<style><img title="</style><img src onerror=alert(1)>"></style>)~",
    R"~(<template><img src=x onerror=alert(1)></template><template><style></template><img src=x onerror=alert(1)>)~",
    R"~(<plaintext><img src=x onerror=alert(1)>)~",
    R"~(<select><template><style><!--</style><a rel="--></style></template></select><img src=x onerror=alert(1)>">)~",
    R"~(<svg><foreignObject><p>a</p><img src=x onerror=alert(1)></foreignObject></svg>)~",
    R"~(<math><annotation-xml encoding="text/html"><img src=x onerror=alert(1)></annotation-xml></math>)~",
    R"~(<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">X</text></a></svg>)~",
    R"~(<math href="javascript:alert(1)">CLICK</math>)~",
    R"~(<svg><script>alert(1)</script></svg><svg><![CDATA[<img src=x onerror=alert(1)>]]></svg>)~",
    R"~(<!--><img src=x onerror=alert(1)>--><!-- --!><img src=x onerror=alert(1)>-->)~",
    R"~(<?xml <img src=x onerror=alert(1)>?>)~",
    R"~(<p title="</p><img src=x onerror=alert(1)>">x</p>)~",
    R"~(<a title="&lt;img src=x onerror=alert(1)&gt;" href="/">x</a>)~",
    R"~(<a href="jav&#x09;ascript:alert(1)">1</a><a href=" &#14;javascript:alert(1)">2</a>)~",
    R"~(<a href="JaVaScRiPt:alert(1)">3</a><a href="javascript&colon;alert(1)">4</a>)~",
    R"~(<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">5</a>)~",
    R"~(<a href="&#x6A;avascript&#x3A;alert(1)">6</a><a href="vbscript:msgbox(1)">7</a>)~",
    R"~(<a href="data:text/html,<script>alert(1)</script>">8</a><a href="java&NewLine;script:alert(1)">9</a>)~",
    R"~(<img srcset="x.png 1x, javascript:alert(1) 2x"><img srcset="javascript:alert(1)">)~",
    R"~(<img srcset="x.png,javascript:alert(1)"><img src="x" srcset=" data:text/html,x 1x">)~",
    R"~(<p>a<button><p>b</p></button></p><h1>c<span><h2>d</h2></span></h1>)~",
    R"~(<ul><li>a<ol><li>b</li></ol></li></ul><dl><dt>a<div><dd>b</dd></div></dl>)~",
    R"~(<a href="/x"><table><tr><td><a href="/y">nested</a></td></tr></table></a>)~",
    R"~(<a href="/x">1<div><a href="/y">2</a></div></a>)~",
    R"~(<table><tr><td>a</td></tr>text<b>bold</b><img src=x onerror=alert(1)></table>)~",
    R"~(<table><caption><table><tr><td>x</td></tr></table></caption></table>)~",
    R"~(<table><tbody><tr><td>1</td><span>2</span></tr></tbody></table>)~",
    R"~(<p><table><tr><td>in</td></tr></table></p>)~",
    R"~(<pre>

two newlines</pre><pre><span>
x</span></pre>)~",
    R"~(<ruby>a<rt>b<rp>c</rp></rt><rb>d<rt>e</rt></rb></ruby>)~",
    R"~(<nobr><nobr>x</nobr></nobr><b><i>mis</b>nested</i>)~",
    R"~(<div id="<img src=x onerror=alert(1)>">x</div><div class='"><img src=x onerror=alert(1)>'>)~",
    R"~(<scr<script>ipt>alert(1)</script><<script>script>alert(1)<</script>/script>)~",
    R"~(<img src="x` `<script>alert(1)</script>"` `>)~",
    R"~(<a href="https://example.com/" rel="opener" target="_self">link</a>)~",
    R"~(<a href="/" target="javascript:alert(1)">t</a><a href="/" target="_blank">b</a>)~",
    R"~(<body onload=alert(1)><frameset onload=alert(1)>)~",
    R"~(<isindex action=javascript:alert(1) type=image><input type=image src=x onerror=alert(1)>)~",
    R"~(<object data="javascript:alert(1)"></object><embed src="javascript:alert(1)">)~",
    R"~(<base href="javascript:/"><meta http-equiv="refresh" content="0;url=javascript:alert(1)">)~",
    R"~(<image src=x onerror=alert(1)><img src=x:alert(1) onerror=eval(src)>)~",
    R"~(<div style="background:url(javascript:alert(1))">css</div>)~",
    R"~(<a href="\u0001javascript:alert(1)">c0</a><a href="/\javascript:alert(1)">rel</a>)~",
    R"~(<details open ontoggle=alert(1)><summary>s</summary></details>)~",
    R"~(<video poster=javascript:alert(1)></video><audio src=x onerror=alert(1)>)~",
    R"~(<area href="javascript:alert(1)" ping="https://a javascript:alert(1)">)~",
    R"~(<listing>
<img src=x onerror=alert(1)></listing>)~",
    R"~(<marquee onstart=alert(1)>m</marquee><font color="red" face="x">f</font>)~",
    R"~(<div data-x="1" data-on="2" data-bad"="3" onclick-data="4">d</div>)~",
    R"~(<b>)~"
    "\xC0\xAF"
    R"~(overlong</b><i>)~"
    "\xED\xA0\x80"
    R"~(surrogate</i>)~",
    R"~(<a href="java)~"
    "\0"
    R"~(script:alert(1)">nul</a><scr)~"
    "\0"
    R"~(ipt>alert(1)</script>)~",
    R"~(</p></div></body></html><img src=x onerror=alert(1)><html><body>after)~",
    R"~(<svg><style><img src=x onerror=alert(1)></style></svg><p>ok</p>)~",
    R"~(<math><style><img src=x onerror=alert(1)></style></math>)~",
    R"~(<form action="javascript:alert(1)"><button formaction="javascript:alert(1)">x</button></form>)~",
};

}  // namespace portcullis::test
