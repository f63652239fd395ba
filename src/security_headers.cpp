#include "portcullis/security_headers.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/errc.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace portcullis {
namespace {

// -- Small text helpers ------------------------------------------------------

using detail::iequals;
using detail::is_token;

template <std::size_t N>
bool one_of(std::string_view v, const std::array<std::string_view, N>& set) noexcept {
  return std::any_of(set.begin(), set.end(), [v](std::string_view s) { return iequals(v, s); });
}

// A field value that cannot split the header block: no CR, LF, NUL or
// other control characters (RFC 9110 §5.5).
bool is_field_value(std::string_view s) noexcept {
  return std::none_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
}

// -- CSP vocabulary (CSP Level 3 and the specs that extend it) ---------------

constexpr std::array<std::string_view, 18> fetch_directives = {
    "child-src",      "connect-src",    "default-src",     "fenced-frame-src", "font-src",
    "frame-src",      "img-src",        "manifest-src",    "media-src",        "object-src",
    "prefetch-src",   "script-src",     "script-src-attr", "script-src-elem",  "style-src",
    "style-src-attr", "style-src-elem", "worker-src"};

// Directives whose values are source lists, like the fetch directives.
constexpr std::array<std::string_view, 3> source_list_directives = {"base-uri", "form-action",
                                                                    "frame-ancestors"};

constexpr std::array<std::string_view, 9> other_directives = {"sandbox",
                                                              "report-uri",
                                                              "report-to",
                                                              "upgrade-insecure-requests",
                                                              "block-all-mixed-content",
                                                              "require-trusted-types-for",
                                                              "trusted-types",
                                                              "webrtc",
                                                              "navigate-to"};

constexpr std::array<std::string_view, 2> valueless_directives = {"upgrade-insecure-requests",
                                                                  "block-all-mixed-content"};

constexpr std::array<std::string_view, 10> keywords = {"self",
                                                       "none",
                                                       "unsafe-inline",
                                                       "unsafe-eval",
                                                       "strict-dynamic",
                                                       "unsafe-hashes",
                                                       "report-sample",
                                                       "wasm-unsafe-eval",
                                                       "unsafe-allow-redirects",
                                                       "inline-speculation-rules"};

bool is_source_list(std::string_view name) noexcept {
  return one_of(name, fetch_directives) || one_of(name, source_list_directives);
}

bool known_directive(std::string_view name) noexcept {
  return is_source_list(name) || one_of(name, other_directives);
}

[[noreturn]] void csp_error(const std::string& what) {
  throw config_error("csp: " + what);
}

bool starts_with_hash(std::string_view v) noexcept {
  return v.starts_with("sha256-") || v.starts_with("sha384-") || v.starts_with("sha512-");
}

void check_value(const csp_directive& d, std::string_view v) {
  const std::string where = "directive '" + d.name + "'";
  if (v.empty()) csp_error(where + " has an empty value; remove it");
  for (char ch : v) {
    auto c = static_cast<unsigned char>(ch);
    if (ch == ';' || ch == ',')
      csp_error(where + " value '" + std::string(v) + "' contains '" + std::string(1, ch) +
                "', which would end the directive or the policy; split or encode it");
    if (c <= ' ' || c >= 0x7f)
      csp_error(where + " value '" + std::string(v) +
                "' contains whitespace or a non-ASCII byte; give each source as its own "
                "value and percent-encode URLs");
  }

  // Quoted: a keyword, a hash, or a nonce (which must not be fixed).
  if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') {
    auto inner = v.substr(1, v.size() - 2);
    if (inner.starts_with("nonce-"))
      csp_error(where + " has a fixed nonce " + std::string(v) +
                "; a nonce must differ per response: call nonce() instead");
    if (starts_with_hash(inner) || one_of(inner, keywords)) return;
    csp_error(where + " value " + std::string(v) + " is not a CSP keyword or hash");
  }
  if (v.find('\'') != std::string_view::npos)
    csp_error(where + " value '" + std::string(v) + "' has an unbalanced quote");

  // Unquoted keywords and hashes are read as host names by browsers: a
  // silent hole ("self" allows a host called self), so refuse them.
  if (one_of(v, keywords))
    csp_error(where + " keyword '" + std::string(v) + "' must be quoted: write \"'" +
              std::string(v) + "'\"");
  if (v.starts_with("nonce-") || starts_with_hash(v))
    csp_error(where + " value '" + std::string(v) + "' must be in single quotes");
}

void check_directive(const csp_directive& d) {
  if (d.name.empty() || !std::all_of(d.name.begin(), d.name.end(),
                                     [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; }))
    csp_error("directive name '" + d.name + "' is invalid: names are lower-case letters and '-'");
  if (!known_directive(d.name))
    csp_error("directive '" + d.name + "' is not defined by CSP; check its spelling");

  if (one_of(d.name, valueless_directives)) {
    if (!d.values.empty()) csp_error("directive '" + d.name + "' takes no values");
    return;
  }
  if (is_source_list(d.name) && d.values.empty())
    csp_error("directive '" + d.name + "' has no values; write 'none' to allow nothing");
  if (d.name == "report-to" && (d.values.size() != 1 || !is_token(d.values[0])))
    csp_error("directive 'report-to' takes one group name (a token such as csp-endpoint)");

  for (const auto& v : d.values) check_value(d, v);

  bool has_none = std::find(d.values.begin(), d.values.end(), "'none'") != d.values.end();
  if (has_none && d.values.size() > 1)
    csp_error("directive '" + d.name +
              "' mixes 'none' with other sources; browsers ignore 'none' then: keep one");
}

bool valid_nonce(std::string_view n) noexcept {
  return std::all_of(n.begin(), n.end(), [](char c) {
    return detail::is_ascii_alnum(c) || c == '+' || c == '/' || c == '=' || c == '-' || c == '_';
  });
}

}  // namespace

// -- csp_policy / csp_builder ------------------------------------------------

std::string_view csp_policy::header_name() const noexcept {
  return report_only_ ? "Content-Security-Policy-Report-Only" : "Content-Security-Policy";
}

std::string csp_policy::value(std::string_view nonce) const {
  if (nonce_at_.empty() || nonce.empty()) return text_;
  if (!valid_nonce(nonce)) throw std::invalid_argument("csp nonce is not base64");
  std::string out;
  out.reserve(text_.size() + nonce_at_.size() * (nonce.size() + 10));
  std::size_t from = 0;
  for (auto at : nonce_at_) {
    out.append(text_, from, at - from);
    out += " 'nonce-";
    out += nonce;
    out += '\'';
    from = at;
  }
  out.append(text_, from);
  return out;
}

csp_builder csp_builder::html() {
  csp_builder b;
  b.directive("default-src", {"'self'"})
      .directive("base-uri", {"'self'"})
      .directive("font-src", {"'self'", "https:", "data:"})
      .directive("form-action", {"'self'"})
      .directive("frame-ancestors", {"'self'"})
      .directive("img-src", {"'self'", "data:"})
      .directive("object-src", {"'none'"})
      .directive("script-src", {"'self'"})
      .directive("script-src-attr", {"'none'"})
      .directive("style-src", {"'self'", "https:", "'unsafe-inline'"})
      .directive("upgrade-insecure-requests");
  return b;
}

csp_builder csp_builder::api() {
  csp_builder b;
  b.directive("default-src", {"'none'"}).directive("frame-ancestors", {"'none'"});
  return b;
}

csp_builder& csp_builder::directive(std::string name, std::vector<std::string> values) {
  directives_.push_back({std::move(name), std::move(values)});
  return *this;
}

csp_builder& csp_builder::replace(std::string_view name, std::vector<std::string> values) {
  for (auto& d : directives_)
    if (d.name == name) {
      d.values = std::move(values);
      return *this;
    }
  return directive(std::string(name), std::move(values));
}

csp_builder& csp_builder::remove(std::string_view name) {
  std::erase_if(directives_, [name](const csp_directive& d) { return d.name == name; });
  return *this;
}

csp_builder& csp_builder::without_default_src() {
  allow_no_default_ = true;
  return *this;
}

csp_builder& csp_builder::report_only(bool on) {
  report_only_ = on;
  return *this;
}

csp_builder& csp_builder::report_to(std::string group) {
  return replace("report-to", {std::move(group)});
}

csp_builder& csp_builder::nonce(bool on) {
  nonce_ = on;
  return *this;
}

csp_policy csp_builder::build() const {
  // Each directive on its own, then the policy as a whole.
  for (const auto& d : directives_) check_directive(d);
  for (std::size_t i = 0; i < directives_.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (directives_[i].name == directives_[j].name)
        csp_error("directive '" + directives_[i].name +
                  "' is given twice; browsers use only the first: merge them or use replace()");

  auto find = [this](std::string_view name) -> const csp_directive* {
    for (const auto& d : directives_)
      if (d.name == name) return &d;
    return nullptr;
  };
  if (directives_.empty()) csp_error("the policy has no directives; start from html() or api()");
  if (!allow_no_default_ && find("default-src") == nullptr)
    csp_error(
        "the policy has no default-src, so every fetch type it does not list is "
        "unrestricted; add default-src or call without_default_src()");

  if (nonce_) {
    bool any = false;
    for (auto name : {"script-src", "style-src"}) {
      const auto* d = find(name);
      if (d == nullptr) continue;
      if (d->values.size() == 1 && d->values[0] == "'none'")
        csp_error(std::string("directive '") + name +
                  "' is 'none', so a nonce cannot be added to it; allow 'self' or remove it");
      any = true;
    }
    if (!any)
      csp_error(
          "nonce() needs a script-src or style-src directive to add the nonce to; "
          "add script-src 'self'");
  }

  csp_policy p;
  p.report_only_ = report_only_;
  for (const auto& d : directives_) {
    if (!p.text_.empty()) p.text_ += "; ";
    p.text_ += d.name;
    for (const auto& v : d.values) {
      p.text_ += ' ';
      p.text_ += v;
    }
    if (nonce_ && (d.name == "script-src" || d.name == "style-src"))
      p.nonce_at_.push_back(p.text_.size());
  }
  return p;
}

// -- security_headers --------------------------------------------------------

std::string make_csp_nonce() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed: no entropy for a CSP nonce");
  std::array<unsigned char, 25> text{};  // 4 * ceil(16 / 3) + NUL
  int n = EVP_EncodeBlock(text.data(), bytes.data(), static_cast<int>(bytes.size()));
  return std::string(reinterpret_cast<const char*>(text.data()), static_cast<std::size_t>(n));
}

security_headers_options security_headers_options::html() {
  return {};
}

security_headers_options security_headers_options::api() {
  security_headers_options o;
  o.csp = csp_builder::api();
  o.x_frame_options = "DENY";
  o.no_store = no_store_mode::always;
  return o;
}

namespace {

enum sh_counter : std::size_t { c_responses, c_nonces };

struct header_rule {
  std::string_view header;
  std::string_view option;
  const std::optional<std::string>* value;
  std::vector<std::string_view> allowed;  // empty: any valid field value
};

void check_referrer_policy(std::string_view v) {
  constexpr std::array<std::string_view, 8> policies = {"no-referrer",
                                                        "no-referrer-when-downgrade",
                                                        "origin",
                                                        "origin-when-cross-origin",
                                                        "same-origin",
                                                        "strict-origin",
                                                        "strict-origin-when-cross-origin",
                                                        "unsafe-url"};
  std::string_view rest = v;
  while (true) {
    auto comma = rest.find(',');
    auto item = rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!one_of(item, policies))
      throw config_error("security_headers: referrer_policy '" + std::string(item) +
                         "' is not a referrer policy; use no-referrer or "
                         "strict-origin-when-cross-origin");
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
}

}  // namespace

security_headers::security_headers(security_headers_options options)
    : options_(std::move(options)),
      counters_("security_headers", options_.name, {"responses", "nonces"}) {
  const auto& o = options_;
  if (o.csp) csp_ = o.csp->build();

  if (o.hsts) {
    const auto& h = *o.hsts;
    if (h.max_age.count() < 0)
      throw config_error("security_headers: hsts.max_age is negative; use 0 to clear HSTS");
    if (h.preload && (!h.include_subdomains || h.max_age < std::chrono::seconds(31536000)))
      throw config_error(
          "security_headers: hsts.preload needs include_subdomains and a max_age "
          "of at least 31536000 s (one year), as the preload list requires");
    hsts_ = "max-age=" + std::to_string(h.max_age.count());
    if (h.include_subdomains) hsts_ += "; includeSubDomains";
    if (h.preload) hsts_ += "; preload";
  }

  // Each option: its header, and the values a browser understands.
  const std::vector<header_rule> rules = {
      {"Cross-Origin-Opener-Policy",
       "cross_origin_opener_policy",
       &o.cross_origin_opener_policy,
       {"same-origin", "same-origin-allow-popups", "unsafe-none", "noopener-allow-popups"}},
      {"Cross-Origin-Resource-Policy",
       "cross_origin_resource_policy",
       &o.cross_origin_resource_policy,
       {"same-origin", "same-site", "cross-origin"}},
      {"Cross-Origin-Embedder-Policy",
       "cross_origin_embedder_policy",
       &o.cross_origin_embedder_policy,
       {"require-corp", "credentialless", "unsafe-none"}},
      {"Origin-Agent-Cluster", "origin_agent_cluster", &o.origin_agent_cluster, {"?1", "?0"}},
      {"Referrer-Policy", "referrer_policy", &o.referrer_policy, {}},
      {"X-Content-Type-Options", "x_content_type_options", &o.x_content_type_options, {"nosniff"}},
      {"X-DNS-Prefetch-Control",
       "x_dns_prefetch_control",
       &o.x_dns_prefetch_control,
       {"on", "off"}},
      {"X-Download-Options", "x_download_options", &o.x_download_options, {"noopen"}},
      {"X-Frame-Options", "x_frame_options", &o.x_frame_options, {"DENY", "SAMEORIGIN"}},
      {"X-Permitted-Cross-Domain-Policies",
       "x_permitted_cross_domain_policies",
       &o.x_permitted_cross_domain_policies,
       {"none", "master-only", "by-content-type", "all"}},
      {"X-XSS-Protection", "x_xss_protection", &o.x_xss_protection, {"0", "1", "1; mode=block"}},
  };
  for (const auto& r : rules) {
    if (!*r.value) continue;
    const std::string& v = **r.value;
    if (!r.allowed.empty() && std::none_of(r.allowed.begin(), r.allowed.end(),
                                           [&v](std::string_view a) { return iequals(v, a); })) {
      std::string list;
      for (auto a : r.allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      throw config_error("security_headers: " + std::string(r.option) + " '" + v +
                         "' is not understood by browsers; use one of: " + list +
                         ", or std::nullopt to leave the header out");
    }
    if (r.header == "Referrer-Policy") check_referrer_policy(v);
    fixed_.emplace_back(std::string(r.header), v);
  }

  for (const auto& [name, value] : o.extra_headers) {
    if (!is_token(name) || !is_field_value(value))
      throw config_error("security_headers: extra header '" + name +
                         "' has an invalid name or a value with control characters");
    fixed_.emplace_back(name, value);
  }
  for (const auto& name : o.remove)
    if (!is_token(name))
      throw config_error("security_headers: remove lists '" + name +
                         "', which is not a header name");
}

void security_headers::apply(response& res, const context& ctx, std::string_view nonce) const {
  const bool force = options_.override_handler_headers;
  auto put = [&res, force](std::string_view name, std::string_view value) {
    if (force || res.find(name) == res.end()) res.set(name, value);
  };

  for (const auto& [name, value] : fixed_) put(name, value);
  if (csp_) put(csp_->header_name(), csp_->value(nonce));

  // RFC 6797 §7.2: HSTS over plain HTTP is ignored and only advertises
  // a header an attacker in the middle could strip anyway.
  if (!hsts_.empty() && ctx.https) put("Strict-Transport-Security", hsts_);

  if (res.find(http::field::cache_control) == res.end()) {
    bool identified = ctx.who.authenticated() || res.find(http::field::set_cookie) != res.end();
    if (options_.no_store == no_store_mode::always ||
        (options_.no_store == no_store_mode::when_identified && identified))
      res.set(http::field::cache_control, "no-store");
  }

  for (const auto& name : options_.remove) res.erase(name);
}

asio::awaitable<response> security_headers::handle(request& req, context& ctx,
                                                   next_handler next) const {
  // The nonce exists before the handler runs, so that it can use it.
  if (csp_ && csp_->uses_nonce()) {
    ctx.csp_nonce = make_csp_nonce();
    counters_.add(c_nonces);
  }
  auto res = co_await next(req, ctx);
  apply(res, ctx, ctx.csp_nonce);
  counters_.add(c_responses);
  co_return res;
}

void security_headers::decorate_refusal(const request&, const context& ctx,
                                        response& res) const noexcept {
  try {
    apply(res, ctx);
  } catch (const std::exception&) {
    // Allocation failure: the refusal goes out without them.
  }
}

}  // namespace portcullis
