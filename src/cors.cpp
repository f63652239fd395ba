#include "portcullis/cors.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/errc.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <unordered_set>

namespace portcullis {
namespace {

// The PNA request and grant fields (WICG Private Network Access §3); Beast
// has no enumerators for them.
constexpr std::string_view request_private_network = "Access-Control-Request-Private-Network";
constexpr std::string_view allow_private_network = "Access-Control-Allow-Private-Network";

enum counter_index : std::size_t {
  c_preflight_allowed,
  c_preflight_denied,
  c_private_network_allowed,
  c_private_network_denied,
  c_request_headers_rejected,
  c_allowed,
  c_denied,
  c_refused,
};

// Tokens (RFC 9110 §5.6.2) and ASCII case. detail::iequals, never
// beast::iequals: Boost 1.81's reads one byte past the end of both strings
// when they differ only in case (found by fuzzing: an Origin that ends in
// "exAmple.org" at the end of the buffer it is in).
using detail::ascii_lower;
using detail::iends_with;
using detail::iequals;
using detail::is_token;
using detail::to_ascii_lower;

// --- Origins (RFC 6454 §6.1, Fetch §3.2.1) -----------------------------------

enum class origin_problem {
  none,
  empty,
  no_scheme,
  bad_scheme,
  userinfo,
  path,
  trailing_slash,
  query,
  bad_host,
  bad_port,
  wildcard,
};

// An origin split into its parts; views into the parsed text.
struct parsed_origin {
  bool null = false;
  bool wildcard = false;  // "*." in front of host (configuration only)
  bool explicit_default_port = false;
  std::string_view scheme;
  std::string_view host;   // without "*." and, for IPv6, with brackets
  std::uint16_t port = 0;  // 0: none or the scheme's default
};

bool valid_scheme(std::string_view s) noexcept {
  if (s.empty() || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return detail::is_ascii_alnum(c) || c == '+' || c == '-' || c == '.';
  });
}

// A DNS name or IPv4 address: labels of [A-Za-z0-9_-], none empty.
bool valid_name(std::string_view h) noexcept {
  if (h.empty()) return false;
  std::size_t label = 0;
  for (char c : h) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (detail::is_ascii_alnum(c) || c == '-' || c == '_') {
      ++label;
    } else {
      return false;
    }
  }
  return label != 0;
}

bool valid_ipv6_literal(std::string_view h) noexcept {
  if (h.size() < 4 || h.front() != '[' || h.back() != ']') return false;
  return std::all_of(h.begin() + 1, h.end() - 1,
                     [](char c) { return detail::is_ascii_xdigit(c) || c == ':' || c == '.'; });
}

std::uint16_t default_port(std::string_view scheme) noexcept {
  if (iequals(scheme, "http")) return 80;
  if (iequals(scheme, "https")) return 443;
  return 0;
}

// Parses a serialised origin strictly: what browsers send, nothing more.
// Configuration entries may also carry a leading "*." label.
origin_problem parse_origin(std::string_view s, parsed_origin& out, bool allow_wildcard) noexcept {
  out = {};
  if (s.empty()) return origin_problem::empty;
  if (s == "null") {
    out.null = true;
    return origin_problem::none;
  }

  auto sep = s.find("://");
  if (sep == std::string_view::npos) return origin_problem::no_scheme;
  out.scheme = s.substr(0, sep);
  if (!valid_scheme(out.scheme)) return origin_problem::bad_scheme;
  auto rest = s.substr(sep + 3);

  // Nothing after the authority: no path (not even "/"), query or fragment.
  if (auto p = rest.find_first_of("/?#"); p != std::string_view::npos) {
    if (rest[p] == '/' && p + 1 == rest.size()) return origin_problem::trailing_slash;
    return rest[p] == '/' ? origin_problem::path : origin_problem::query;
  }
  if (rest.find('@') != std::string_view::npos) return origin_problem::userinfo;

  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return origin_problem::bad_host;
    out.host = rest.substr(0, close + 1);
    auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return origin_problem::bad_host;
      port = after.substr(1);
      if (port.empty()) return origin_problem::bad_port;
    }
    if (!valid_ipv6_literal(out.host)) return origin_problem::bad_host;
  } else {
    auto colon = rest.find(':');
    out.host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      if (port.empty()) return origin_problem::bad_port;
    }
    if (out.host.starts_with("*.")) {
      if (!allow_wildcard) return origin_problem::bad_host;
      out.wildcard = true;
      out.host.remove_prefix(2);
    }
    if (out.host.find('*') != std::string_view::npos) return origin_problem::wildcard;
    if (!valid_name(out.host)) return origin_problem::bad_host;
  }

  if (!port.empty()) {
    // Digits only, no sign, no leading zero, 1..65535.
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || port.front() == '0' ||
        port.size() > 5 || value == 0 || value > 65535)
      return origin_problem::bad_port;
    out.port = static_cast<std::uint16_t>(value);
    if (out.port == default_port(out.scheme)) {
      out.port = 0;
      out.explicit_default_port = true;
    }
  }
  return origin_problem::none;
}

// scheme://host[:port], lower-case, without a default port.
void write_normalised(const parsed_origin& o, std::string& out) {
  out.clear();
  if (o.null) {
    out = "null";
    return;
  }
  for (char c : o.scheme) out.push_back(ascii_lower(c));
  out += "://";
  for (char c : o.host) out.push_back(ascii_lower(c));
  if (o.port != 0) {
    out.push_back(':');
    out += std::to_string(o.port);
  }
}

// True when `raw` is already in normalised form (what browsers send).
bool is_normalised(const parsed_origin& o) noexcept {
  auto upper = detail::is_ascii_upper;
  return !o.explicit_default_port && std::none_of(o.scheme.begin(), o.scheme.end(), upper) &&
         std::none_of(o.host.begin(), o.host.end(), upper);
}

// Below `domain` ("example.com"), or `domain` itself when `self` is true.
bool host_under(std::string_view host, std::string_view domain, bool self) noexcept {
  if (host.size() == domain.size()) return self && iequals(host, domain);
  return host.size() > domain.size() + 1 && iends_with(host, domain) &&
         host[host.size() - domain.size() - 1] == '.';
}

std::size_t label_count(std::string_view name) noexcept {
  return static_cast<std::size_t>(std::count(name.begin(), name.end(), '.')) + 1;
}

// --- Configuration messages --------------------------------------------------

std::string origin_advice(std::string_view entry, origin_problem p) {
  std::string e(entry);
  auto cut = [&](std::string_view at) {
    auto sep = e.find("://");
    auto pos = e.find_first_of(at, sep == std::string::npos ? 0 : sep + 3);
    return e.substr(0, pos);
  };
  switch (p) {
    case origin_problem::none:
      return {};
    case origin_problem::empty:
      return "is empty; remove it";
    case origin_problem::no_scheme:
      return "has no scheme; an origin is scheme://host[:port], such as 'https://" + e + "'";
    case origin_problem::bad_scheme:
      return "has an invalid scheme; write it as https://host[:port]";
    case origin_problem::userinfo:
      return "carries userinfo ('@'); an origin is scheme://host[:port] only";
    case origin_problem::path:
      return "has a path; an origin is scheme://host[:port] only — write '" + cut("/") + "'";
    case origin_problem::trailing_slash:
      return "ends with '/'; browsers send origins without it — write '" + cut("/") + "'";
    case origin_problem::query:
      return "has a query or fragment; an origin is scheme://host[:port] only — write '" +
             cut("?#") + "'";
    case origin_problem::bad_host:
      return "has an invalid host; use an ASCII (punycode) name, an IPv4 address or a "
             "bracketed IPv6 address";
    case origin_problem::bad_port:
      return "has an invalid port; use 1 to 65535 without leading zeros";
    case origin_problem::wildcard:
      return "has '*' inside the host; a wildcard is only the whole first label, as in "
             "'https://*.example.com'";
  }
  return "is not an origin";
}

[[noreturn]] void fail(std::string_view what) {
  throw config_error("cors: " + std::string(what));
}

std::string quoted(std::string_view option, std::size_t i, std::string_view value) {
  return std::string(option) + "[" + std::to_string(i) + "] '" + std::string(value) + "'";
}

// Origins that nobody can own (RFC 2606 reserves ".invalid"); a predicate
// that accepts one of them accepts any origin.
constexpr std::array<std::string_view, 3> probe_origins{
    "https://portcullis-probe.invalid",
    "http://portcullis-probe.invalid",
    "https://a.b.portcullis-probe.invalid:8443",
};

// --- Vary and grants -----------------------------------------------------------

bool list_has(std::string_view list, std::string_view name) noexcept {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item == "*" || iequals(item, name)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// Adds `names` to the response's Vary (RFC 9110 §12.5.5), keeping what is
// there; one field afterwards. "Vary: *" already covers everything.
void merge_vary(response& res, std::initializer_list<std::string_view> names) {
  std::string merged;
  std::size_t fields = 0;
  for (auto it = res.find(http::field::vary); it != res.end() && it->name() == http::field::vary;
       ++it) {
    if (!merged.empty()) merged += ", ";
    merged += it->value();
    ++fields;
  }
  bool added = false;
  for (auto n : names) {
    if (list_has(merged, n)) continue;
    if (!merged.empty()) merged += ", ";
    merged += n;
    added = true;
  }
  if (!added && fields <= 1) return;
  res.set(http::field::vary, merged);
}

// Removes every CORS grant a handler may have set: the middleware alone
// decides them.
void erase_grants(response& res) {
  res.erase(http::field::access_control_allow_origin);
  res.erase(http::field::access_control_allow_credentials);
  res.erase(http::field::access_control_allow_methods);
  res.erase(http::field::access_control_allow_headers);
  res.erase(http::field::access_control_expose_headers);
  res.erase(http::field::access_control_max_age);
  res.erase(allow_private_network);
}

std::string_view clipped(std::string_view s) noexcept {
  return s.substr(0, 128);
}

}  // namespace

// --- Compiled state ------------------------------------------------------------

namespace {

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

struct wildcard_entry {
  std::string scheme;  // lower case
  std::string domain;  // "example.com", lower case
  std::uint16_t port = 0;
};

struct regex_entry {
  std::unique_ptr<RE2> re;
  bool http = false;   // the literal scheme prefix admits http://
  bool https = false;  // ... and https://
  std::string domain;  // the literal domain the regex ends with
};

struct origin_matcher {
  bool any = false;
  bool null = false;
  std::unordered_set<std::string, string_hash, std::equal_to<>> exact;
  std::unordered_set<std::string, string_hash, std::equal_to<>> private_network;
  std::vector<wildcard_entry> wildcards;
  std::vector<regex_entry> regexes;
  std::function<bool(std::string_view)> predicate;

  bool empty() const noexcept {
    return !any && !null && exact.empty() && wildcards.empty() && regexes.empty() && !predicate;
  }
};

struct verdict {
  bool allowed = false;
  bool private_network = false;
};

verdict decide(const origin_matcher& m, std::string_view raw) {
  if (m.any) return {true, false};
  parsed_origin o;
  if (parse_origin(raw, o, false) != origin_problem::none) return {};
  if (o.null) return {m.null, false};

  // The normalised text: the raw value itself for what browsers send, a
  // per-thread buffer otherwise (matching never suspends, so it is ours).
  std::string_view norm = raw;
  if (!is_normalised(o)) {
    thread_local std::string buffer;
    write_normalised(o, buffer);
    norm = buffer;
  }

  if (auto it = m.exact.find(norm); it != m.exact.end())
    return {true, m.private_network.contains(norm)};
  for (const auto& w : m.wildcards)
    if (o.port == w.port && iequals(o.scheme, w.scheme) &&
        host_under(o.host, w.domain, false))
      return {true, false};
  for (const auto& r : m.regexes) {
    bool https = iequals(o.scheme, "https");
    bool http = iequals(o.scheme, "http");
    if (!((https && r.https) || (http && r.http))) continue;
    if (!host_under(o.host, r.domain, true)) continue;
    if (RE2::FullMatch(re2::StringPiece(norm.data(), norm.size()), *r.re)) return {true, false};
  }
  if (m.predicate && m.predicate(norm)) return {true, false};
  return {};
}

// The literal scheme prefix of a regex and what remains after it.
bool split_scheme(std::string_view& body, bool& http, bool& https) {
  struct form {
    std::string_view text;
    bool http, https;
  };
  static constexpr std::array<form, 5> forms{{{"https://", false, true},
                                              {"http://", true, false},
                                              {"https?://", true, true},
                                              {"http(s)?://", true, true},
                                              {"http(?:s)?://", true, true}}};
  for (const auto& f : forms) {
    if (!body.starts_with(f.text)) continue;
    body.remove_prefix(f.text.size());
    http = f.http;
    https = f.https;
    return true;
  }
  return false;
}

// The literal domain a regex body ends with ("[a-z]+\.example\.com" gives
// "example.com"), after an optional port part; empty when there is none.
std::string trailing_domain(std::string_view body) {
  static const RE2 port_tail(
      R"((.*?)(?:\((?:\?:)?)?:(?:\\d|\[0-9\]|[0-9]+)(?:\+|\*|\{[0-9]+(?:,[0-9]*)?\})?(?:\)\??)?)");
  std::string head;
  if (RE2::FullMatch(re2::StringPiece(body.data(), body.size()), port_tail, &head)) body = head;

  // Walk back over literal label characters and escaped dots.
  std::size_t i = body.size();
  while (i > 0) {
    char c = body[i - 1];
    if (c == '.' && i >= 2 && body[i - 2] == '\\' && (i < 3 || body[i - 3] != '\\')) {
      i -= 2;
    } else if ((detail::is_ascii_alnum(c) || c == '-') && (i < 2 || body[i - 2] != '\\')) {
      --i;
    } else {
      break;
    }
  }
  std::string domain;
  for (std::size_t j = i; j < body.size(); ++j)
    if (body[j] != '\\') domain.push_back(ascii_lower(body[j]));
  while (!domain.empty() && domain.front() == '.') domain.erase(0, 1);
  // A '-' right behind the cut would be a character class or a range.
  if (domain.empty() || !valid_name(domain) || domain.front() == '-') return {};
  return domain;
}

origin_matcher compile_set(const cors_origin_set& set, std::string_view which, bool credentials,
                           const logger& log, const std::string& name) {
  origin_matcher m;
  const std::string option_origins = std::string(which) + ".origins";
  const std::string option_regexes = std::string(which) + ".regexes";

  // Exact and wildcard entries.
  bool star = false;
  for (std::size_t i = 0; i < set.origins.size(); ++i) {
    const std::string& entry = set.origins[i];
    if (entry == "*") {
      star = true;
      continue;
    }
    parsed_origin o;
    auto problem = parse_origin(entry, o, true);
    if (problem != origin_problem::none)
      fail(quoted(option_origins, i, entry) + " " + origin_advice(entry, problem));
    std::string norm;
    write_normalised(o, norm);
    if (o.null) {
      m.null = true;
    } else if (o.wildcard) {
      if (o.host.front() == '[' ||
          (label_count(o.host) < 2 && !iequals(o.host, "localhost")))
        fail(quoted(option_origins, i, entry) +
             " is a wildcard over a whole top-level domain; name at least the registrable "
             "domain, as in 'https://*.example.com'");
      m.wildcards.push_back({to_ascii_lower(o.scheme), to_ascii_lower(o.host), o.port});
    } else {
      m.exact.insert(std::move(norm));
    }
  }
  if (star) {
    if (set.origins.size() != 1 || !set.regexes.empty() || set.predicate)
      fail(option_origins +
           " lists '*' beside other origins, regexes or a predicate; '*' alone allows every "
           "origin — remove it, or remove the others");
    if (credentials)
      fail(option_origins +
           " is '*' while credentials is on; browsers refuse a wildcard origin with "
           "credentials — list the origins that may send credentials");
    m.any = true;
  }

  // Regexes: a literal scheme, a literal domain at the end, anchored here.
  for (std::size_t i = 0; i < set.regexes.size(); ++i) {
    const std::string& source = set.regexes[i];
    if (source.find("://*.") != std::string::npos)
      fail(quoted(option_regexes, i, source) +
           " is the wildcard form, which as a regex would match far more; put it into " +
           option_origins + " instead");
    std::string_view body = source;
    if (body.starts_with('^')) body.remove_prefix(1);
    if (body.ends_with('$') && !body.ends_with("\\$")) body.remove_suffix(1);
    std::string unslashed;
    for (std::size_t j = 0; j < body.size(); ++j)
      if (!(body[j] == '\\' && j + 1 < body.size() && body[j + 1] == '/'))
        unslashed.push_back(body[j]);

    regex_entry r;
    RE2::Options ro;
    ro.set_case_sensitive(false);
    ro.set_log_errors(false);
    r.re = std::make_unique<RE2>("(?:" + std::string(body) + ")", ro);
    if (!r.re->ok())
      fail(quoted(option_regexes, i, source) + " is not a valid RE2 regex: " + r.re->error());

    std::string_view rest = unslashed;
    if (!split_scheme(rest, r.http, r.https))
      fail(quoted(option_regexes, i, source) +
           " cannot be anchored: it must start with a literal scheme ('https://', 'http://' or "
           "'https?://')");
    r.domain = trailing_domain(rest);
    if (r.domain.empty() || (label_count(r.domain) < 2 && r.domain != "localhost"))
      fail(quoted(option_regexes, i, source) +
           " cannot be anchored: it must end with a literal domain of at least two labels "
           "(such as '\\.example\\.com'), optionally followed by a port part like '(:\\d+)?'");

    m.regexes.push_back(std::move(r));
  }

  // A predicate that accepts origins nobody owns reflects any origin.
  if (set.predicate) {
    m.predicate = set.predicate;
    for (auto probe : probe_origins) {
      if (!set.predicate(probe)) continue;
      if (credentials)
        fail(std::string(which) + ".predicate accepts any origin (it accepted '" +
             std::string(probe) +
             "') while credentials is on; that lets every site act as the user — accept only "
             "origins you own");
      log.log(log_level::warning, "cors.predicate_accepts_any_origin",
              {{"name", name},
               {"set", which},
               {"hint",
                "the predicate accepts every origin; use origins = {\"*\"} if that is "
                "meant"}});
      break;
    }
  }

  // Private network access: exact origins that are listed.
  for (std::size_t i = 0; i < set.private_network.size(); ++i) {
    const std::string& entry = set.private_network[i];
    parsed_origin o;
    auto problem = parse_origin(entry, o, false);
    if (problem != origin_problem::none)
      fail(quoted(std::string(which) + ".private_network", i, entry) + " " +
           origin_advice(entry, problem));
    std::string norm;
    write_normalised(o, norm);
    if (o.null || !m.exact.contains(norm))
      fail(quoted(std::string(which) + ".private_network", i, entry) + " is not listed in " +
           option_origins + "; private network access is granted only to listed origins");
    m.private_network.insert(std::move(norm));
  }
  return m;
}

std::string join_tokens(const std::vector<std::string>& list, std::string_view option) {
  std::string out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string& t = list[i];
    if (t == "*")
      fail(quoted(option, i, t) +
           " is a wildcard; browsers ignore it with credentials and it hides what is allowed "
           "— list the names");
    if (!is_token(t))
      fail(quoted(option, i, t) +
           " is not a valid token (RFC 9110 §5.6.2): no spaces, commas "
           "or separators");
    if (!out.empty()) out += ", ";
    out += t;
  }
  return out;
}

}  // namespace

struct cors::state {
  origin_matcher origins;
  std::vector<std::string> methods;
  std::vector<std::string> allowed_headers;
  std::string allow_methods;
  std::string allow_headers;
  std::string expose_headers;
  std::string max_age;
  bool credentials;
  bool refuse_disallowed;
  std::size_t max_request_headers_bytes;
  std::size_t max_request_headers_count;
  std::string name;
  logger log;
  mutable counter_set counters;

  explicit state(cors_options& o)
      : credentials(o.credentials),
        refuse_disallowed(o.refuse_disallowed),
        max_request_headers_bytes(o.max_request_headers_bytes),
        max_request_headers_count(o.max_request_headers_count),
        name(o.name),
        log(o.log),
        counters("cors", o.name,
                 {"preflight_allowed", "preflight_denied", "private_network_allowed",
                  "private_network_denied", "request_headers_rejected", "allowed", "denied",
                  "refused"}) {}
};

cors::cors(cors_options options) {
  auto s = std::make_unique<state>(options);

  // Both sets are compiled, so that a mistake in either fails now.
  auto production =
      compile_set(options.production, "production", options.credentials, options.log, options.name);
  auto development = compile_set(options.development, "development", options.credentials,
                                 options.log, options.name);
  s->origins = std::move(options.development_mode ? development : production);

  s->allow_methods = join_tokens(options.methods, "methods");
  s->allow_headers = join_tokens(options.allowed_headers, "allowed_headers");
  s->expose_headers = join_tokens(options.exposed_headers, "exposed_headers");
  s->methods = std::move(options.methods);
  s->allowed_headers = std::move(options.allowed_headers);
  if (options.max_age.count() < 0)
    fail("max_age is negative; use 0 to ask browsers not to cache preflights");
  s->max_age = std::to_string(options.max_age.count());
  if (options.max_request_headers_bytes == 0 || options.max_request_headers_count == 0)
    fail(
        "max_request_headers_bytes and max_request_headers_count must be at least 1; the "
        "defaults (1024 and 32) suit browsers");

  if (s->origins.empty())
    s->log.log(log_level::warning, "cors.no_origins",
               {{"name", s->name},
                {"set", options.development_mode ? "development" : "production"},
                {"hint", "no origin is allowed, so CORS grants nothing; list origins in the set"}});
  else if (options.development_mode)
    s->log.log(log_level::info, "cors.development_origins", {{"name", s->name}});
  state_ = std::move(s);
}

cors::~cors() = default;

const counter_set* cors::counters() const noexcept {
  return &state_->counters;
}

bool cors::allows(std::string_view origin) const {
  return decide(state_->origins, origin).allowed;
}

asio::awaitable<response> cors::handle(request& req, context& ctx, next_handler next) const {
  const state& s = *state_;
  auto origin_it = req.find(http::field::origin);
  bool has_origin = origin_it != req.end();
  // Two Origin fields are no origin a browser sends: nothing matches them.
  std::string_view origin = has_origin ? std::string_view(origin_it->value()) : std::string_view{};
  bool single_origin = has_origin && req.count(http::field::origin) == 1;

  // --- Preflight (Fetch §4.8): OPTIONS with Origin and a request method.
  if (req.method() == http::verb::options && has_origin &&
      req.find(http::field::access_control_request_method) != req.end()) {
    auto deny = [&](std::string_view reason, std::string_view message) {
      s.counters.add(c_preflight_denied);
      if (s.log.enabled(log_level::debug))
        s.log.log(log_level::debug, "cors.preflight_denied",
                  {{"name", s.name},
                   {"reason", reason},
                   {"origin", clipped(origin)},
                   {"request_id", ctx.request_id}});
      auto res = ctx.error(req, http::status::forbidden, message);
      merge_vary(res,
                 {"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"});
      return res;
    };

    verdict v = single_origin ? decide(s.origins, origin) : verdict{};
    if (!v.allowed) co_return deny("origin", "CORS preflight denied: origin not allowed");

    auto method = req[http::field::access_control_request_method];
    bool method_ok = req.count(http::field::access_control_request_method) == 1 &&
                     is_token(method) &&
                     std::find(s.methods.begin(), s.methods.end(), method) != s.methods.end();
    if (!method_ok) co_return deny("method", "CORS preflight denied: method not allowed");

    // Access-Control-Request-Headers: bounded before it is read, then each
    // name checked; the answer lists the configured names, never these.
    std::size_t bytes = 0;
    for (auto it = req.find(http::field::access_control_request_headers);
         it != req.end() && it->name() == http::field::access_control_request_headers; ++it)
      bytes += it->value().size() + 1;
    if (bytes > s.max_request_headers_bytes) {
      s.counters.add(c_request_headers_rejected);
      co_return deny("request_headers_size", "CORS preflight denied: too many request headers");
    }
    std::size_t names = 0;
    bool headers_ok = true;
    bool malformed = false;
    for (auto it = req.find(http::field::access_control_request_headers);
         headers_ok && it != req.end() && it->name() == http::field::access_control_request_headers;
         ++it) {
      std::string_view list = it->value();
      while (headers_ok) {
        auto comma = list.find(',');
        auto item = list.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
          item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (!item.empty()) {
          if (++names > s.max_request_headers_count || !is_token(item)) {
            malformed = true;
            headers_ok = false;
          } else {
            headers_ok =
                std::any_of(s.allowed_headers.begin(), s.allowed_headers.end(),
                            [item](const std::string& h) { return iequals(h, item); });
          }
        }
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
    }
    if (malformed) {
      s.counters.add(c_request_headers_rejected);
      co_return deny("request_headers_malformed",
                     "CORS preflight denied: malformed or too many request headers");
    }
    if (!headers_ok) co_return deny("headers", "CORS preflight denied: request header not allowed");

    // The grant.
    response res{http::status::no_content, req.version()};
    res.keep_alive(req.keep_alive());
    res.set(http::field::access_control_allow_origin, s.origins.any ? "*" : origin);
    if (s.credentials) res.set(http::field::access_control_allow_credentials, "true");
    res.set(http::field::access_control_allow_methods, s.allow_methods);
    if (!s.allow_headers.empty())
      res.set(http::field::access_control_allow_headers, s.allow_headers);
    res.set(http::field::access_control_max_age, s.max_age);
    if (iequals(req[request_private_network], "true")) {
      if (v.private_network) {
        res.set(allow_private_network, "true");
        s.counters.add(c_private_network_allowed);
      } else {
        s.counters.add(c_private_network_denied);
      }
    }
    merge_vary(res, {"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"});
    res.prepare_payload();
    s.counters.add(c_preflight_allowed);
    co_return res;
  }

  // --- Any other request.
  verdict v;
  if (has_origin) {
    v = single_origin ? decide(s.origins, origin) : verdict{};
    if (!v.allowed && s.refuse_disallowed) {
      s.counters.add(c_refused);
      if (s.log.enabled(log_level::debug))
        s.log.log(log_level::debug, "cors.refused",
                  {{"name", s.name}, {"origin", clipped(origin)}, {"request_id", ctx.request_id}});
      auto res = ctx.error(req, http::status::forbidden, "origin not allowed");
      merge_vary(res, {"Origin"});
      co_return res;
    }
    s.counters.add(v.allowed ? c_allowed : c_denied);
  }

  auto res = co_await next(req, ctx);
  grant(v.allowed, origin, res);
  co_return res;
}

void cors::grant(bool allowed, std::string_view origin, response& res) const {
  const state& s = *state_;
  erase_grants(res);
  if (s.origins.any) {
    // Same answer for every origin: nothing for a cache to tell apart.
    res.set(http::field::access_control_allow_origin, "*");
    if (!s.expose_headers.empty())
      res.set(http::field::access_control_expose_headers, s.expose_headers);
    return;
  }
  if (allowed) {
    res.set(http::field::access_control_allow_origin, origin);
    if (s.credentials) res.set(http::field::access_control_allow_credentials, "true");
    if (!s.expose_headers.empty())
      res.set(http::field::access_control_expose_headers, s.expose_headers);
  }
  merge_vary(res, {"Origin"});
}

void cors::decorate_refusal(const request& head, const context&, response& res) const noexcept {
  try {
    auto it = head.find(http::field::origin);
    const bool single = it != head.end() && head.count(http::field::origin) == 1;
    const std::string_view origin = single ? std::string_view(it->value()) : std::string_view{};
    const bool allowed = single && decide(state_->origins, origin).allowed;
    grant(allowed, origin, res);
  } catch (const std::exception&) {
    // Allocation failure: the refusal goes out without the grant.
  }
}

}  // namespace portcullis
