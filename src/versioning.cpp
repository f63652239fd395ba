#include "portcullis/versioning.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/detail/ready.hpp"
#include "portcullis/errc.hpp"

#include <algorithm>
#include <array>
#include <ctime>

namespace portcullis {
namespace {

enum versioning_counter : std::size_t { c_selected, c_deprecated, c_unknown };

using detail::ascii_lower;
using detail::iequals;
using detail::trim_ows;

bool is_version_name(std::string_view s) noexcept {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return detail::is_ascii_alnum(c) || c == '.' || c == '_' || c == '-';
  });
}

// "v3", "v2.1", "V10": a segment that claims to be a version.
bool looks_like_version(std::string_view seg) noexcept {
  if (seg.size() < 2 || ascii_lower(seg[0]) != 'v' || seg[1] < '0' || seg[1] > '9') return false;
  return std::all_of(seg.begin() + 1, seg.end(),
                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// A URI reference that fits between '<' and '>' in a Link header.
bool is_link_target(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c > 0x20 && c < 0x7f && ch != '<' && ch != '>' && ch != '"';
  });
}

// The value of media-type parameter `name` in an Accept header, from the
// first media range that has it (RFC 9110 §12.5.1). Quoted values are
// unquoted; backslash escapes are kept out by refusing them.
std::optional<std::string_view> accept_parameter(std::string_view accept, std::string_view name) {
  while (!accept.empty()) {
    auto comma = accept.find(',');
    auto range = accept.substr(0, comma);
    accept.remove_prefix(comma == std::string_view::npos ? accept.size() : comma + 1);

    auto semi = range.find(';');
    while (semi != std::string_view::npos) {
      range.remove_prefix(semi + 1);
      semi = range.find(';');
      auto param = trim_ows(range.substr(0, semi));
      auto eq = param.find('=');
      if (eq == std::string_view::npos) continue;
      if (!iequals(trim_ows(param.substr(0, eq)), name)) continue;
      auto value = trim_ows(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      return value;
    }
  }
  return std::nullopt;
}

void append_vary(response& res, std::string_view name) {
  auto it = res.find(http::field::vary);
  if (it == res.end()) {
    res.set(http::field::vary, name);
    return;
  }
  std::string v(it->value());
  v += ", ";
  v += name;
  res.set(http::field::vary, v);
}

// The rest of the chain's answer with a version's headers; `deprecated`
// (the counters, when the version is deprecated) counts it as such.
asio::awaitable<response> with_headers(
    asio::awaitable<response> rest, const std::vector<std::pair<std::string, std::string>>& headers,
    counter_set* deprecated, std::string_view vary) {
  auto res = co_await std::move(rest);
  if (deprecated != nullptr) deprecated->add(c_deprecated);
  for (const auto& [name, value] : headers) res.insert(name, value);
  if (!vary.empty()) append_vary(res, vary);
  co_return res;
}

}  // namespace

std::string http_date(std::chrono::sys_seconds t) {
  static constexpr std::array<const char*, 7> days = {"Sun", "Mon", "Tue", "Wed",
                                                      "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t tt = t.time_since_epoch().count();
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

versioning::versioning(versioning_options options)
    : options_(std::move(options)),
      counters_("versioning", options_.name, {"selected", "deprecated", "unknown"}) {
  const auto& o = options_;
  if (o.versions.empty())
    throw config_error(
        "versioning: versions is empty; list the supported versions ({.name=\"v1\"})");

  for (std::size_t i = 0; i < o.versions.size(); ++i) {
    const auto& v = o.versions[i];
    if (!is_version_name(v.name))
      throw config_error("versioning: version name '" + v.name +
                         "' must be 1-64 letters, digits, '.', '_' or '-'");
    for (std::size_t j = 0; j < i; ++j)
      if (iequals(o.versions[j].name, v.name))
        throw config_error("versioning: version '" + v.name + "' is listed twice");
    if (o.source == version_source::path && !looks_like_version(v.name))
      throw config_error("versioning: version '" + v.name +
                         "' cannot be a path prefix; in path mode names are 'v' and a number "
                         "(v1, v2.1)");
    if (v.deprecated && v.sunset && *v.sunset < *v.deprecated)
      throw config_error("versioning: version '" + v.name +
                         "' has a sunset before its deprecation; a version is deprecated first");
    if (!is_link_target(v.successor) || !is_link_target(v.deprecation_link))
      throw config_error("versioning: a link of version '" + v.name +
                         "' has spaces, quotes, angle brackets or control characters; give a "
                         "URI");

    // The headers this version's responses carry, formatted once.
    compiled c{&v, {}};
    if (v.deprecated)
      c.headers.emplace_back("Deprecation",
                             "@" + std::to_string(v.deprecated->time_since_epoch().count()));
    if (v.sunset) c.headers.emplace_back("Sunset", http_date(*v.sunset));
    if (!v.successor.empty())
      c.headers.emplace_back("Link", "<" + v.successor + ">; rel=\"successor-version\"");
    if (!v.deprecation_link.empty())
      c.headers.emplace_back("Link", "<" + v.deprecation_link + ">; rel=\"deprecation\"");
    versions_.push_back(std::move(c));
    supported_ += (supported_.empty() ? "" : ", ") + v.name;
  }

  if (o.source != version_source::path) {
    bool token = !o.header.empty() && std::all_of(o.header.begin(), o.header.end(), [](char c) {
      return detail::is_ascii_alnum(c) || c == '-' || c == '_';
    });
    if (!token) throw config_error("versioning: header '" + o.header + "' is not a header name");
    if (o.parameter.empty()) throw config_error("versioning: parameter is empty");
    if (!o.default_version.empty() && find(o.default_version) == nullptr)
      throw config_error("versioning: default_version '" + o.default_version +
                         "' is not one of the versions (" + supported_ + ")");
  } else if (!o.default_version.empty()) {
    throw config_error(
        "versioning: default_version applies to the header modes only; in path "
        "mode unversioned paths pass without a version");
  }
  if (o.unknown_status) {
    auto code = static_cast<unsigned>(*o.unknown_status);
    if (code < 400 || code > 499)
      throw config_error("versioning: unknown_status must be a 4xx status (404 or 400)");
  }
}

const versioning::compiled* versioning::find(std::string_view name) const noexcept {
  for (const auto& c : versions_)
    if (iequals(c.version->name, name)) return &c;
  // "2" for "v2" and "v2" for "2": clients spell it both ways in headers.
  if (options_.source != version_source::path && !name.empty()) {
    for (const auto& c : versions_) {
      std::string_view n = c.version->name;
      if (ascii_lower(name[0]) == 'v' && iequals(n, name.substr(1))) return &c;
      if (!n.empty() && ascii_lower(n[0]) == 'v' && iequals(n.substr(1), name)) return &c;
    }
  }
  return nullptr;
}

response versioning::unknown(const request& req, const context& ctx) const {
  counters_.add(c_unknown);
  auto status = options_.unknown_status.value_or(options_.source == version_source::path
                                                     ? http::status::not_found
                                                     : http::status::bad_request);
  nlohmann::json details;
  auto& list = details["supported"] = nlohmann::json::array();
  for (const auto& c : versions_) list.push_back(c.version->name);
  auto res = ctx.error(req, status, "unknown API version; supported: " + supported_, &details);
  if (options_.source == version_source::header) append_vary(res, options_.header);
  if (options_.source == version_source::media_type) append_vary(res, "Accept");
  return res;
}

// No coroutine: a request whose version adds nothing to the answer (the
// usual /v1/... path) passes on without a frame, and only with_headers()
// waits for the answer to add the version's headers to it.
asio::awaitable<response> versioning::handle(request& req, context& ctx, next_handler next) const {
  // Find what the request asks for.
  const compiled* chosen = nullptr;
  switch (options_.source) {
    case version_source::path: {
      auto rest = ctx.path.substr(ctx.path.starts_with('/') ? 1 : 0);
      auto seg = rest.substr(0, rest.find('/'));
      if (!looks_like_version(seg)) return next(req, ctx);  // unversioned
      chosen = find(seg);
      break;
    }
    case version_source::header:
    case version_source::media_type: {
      std::optional<std::string_view> asked;
      if (options_.source == version_source::header) {
        auto [first, last] = req.base().equal_range(options_.header);
        if (first != last) {
          if (std::next(first) != last) return detail::ready(unknown(req, ctx));  // two: ambiguous
          asked = trim_ows(first->value());
        }
      } else {
        asked = accept_parameter(req[http::field::accept], options_.parameter);
      }
      if (!asked || asked->empty()) {
        if (options_.default_version.empty()) return detail::ready(unknown(req, ctx));
        chosen = find(options_.default_version);
      } else {
        chosen = find(*asked);
      }
      break;
    }
  }
  if (chosen == nullptr) return detail::ready(unknown(req, ctx));

  counters_.add(c_selected);
  ctx.api_version = chosen->version->name;
  std::string_view vary;
  if (options_.source == version_source::header) vary = options_.header;
  if (options_.source == version_source::media_type) vary = "Accept";
  // A version with nothing to add to the answer needs no frame around it.
  if (chosen->headers.empty() && vary.empty() && !chosen->version->deprecated)
    return next(req, ctx);
  return with_headers(next(req, ctx), chosen->headers,
                      chosen->version->deprecated ? &counters_ : nullptr, vary);
}

}  // namespace portcullis
