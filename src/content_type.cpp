#include "portcullis/content_type.hpp"

#include "portcullis/detail/ascii.hpp"
#include "portcullis/errc.hpp"

#include <zlib.h>

#include <algorithm>

namespace portcullis {
namespace {

using detail::iequals;
using detail::is_token;
using detail::to_ascii_lower;
using detail::trim_ows;

bool has_body(const request& req) {
  if (!req.body().empty()) return true;
  if (req.find(http::field::transfer_encoding) != req.end()) return true;
  auto cl = req[http::field::content_length];
  return !cl.empty() && cl.find_first_not_of('0') != std::string_view::npos;
}

enum ct_counter : std::size_t { c_accepted, c_refused };
enum ce_counter : std::size_t { e_passed, e_decoded, e_refused, e_too_large, e_corrupt };

}  // namespace

std::string media_type_of(std::string_view content_type) {
  auto main = trim_ows(content_type.substr(0, content_type.find(';')));
  auto slash = main.find('/');
  if (slash == std::string_view::npos) return {};
  auto type = main.substr(0, slash);
  auto sub = main.substr(slash + 1);
  if (!is_token(type) || !is_token(sub)) return {};
  return to_ascii_lower(main);
}

std::optional<std::string> media_type_parameter(std::string_view content_type,
                                                std::string_view name) {
  const std::string_view ct = content_type;
  auto semi = ct.find(';');
  if (semi == std::string_view::npos) return std::nullopt;
  std::size_t i = semi + 1;
  while (i < ct.size()) {
    auto eq = ct.find('=', i);
    if (eq == std::string_view::npos) return std::nullopt;
    auto key = trim_ows(ct.substr(i, eq - i));
    i = eq + 1;
    std::string value;
    const bool quoted = i < ct.size() && ct[i] == '"';
    if (quoted) {
      // A quoted-string with quoted-pairs (RFC 9110 §5.6.4).
      bool closed = false;
      for (++i; i < ct.size();) {
        char c = ct[i++];
        if (c == '\\' && i < ct.size()) {
          value += ct[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed) return std::nullopt;
    }
    auto next = ct.find(';', i);
    if (!quoted) value = std::string(trim_ows(ct.substr(i, next == ct.npos ? ct.npos : next - i)));
    i = next == std::string_view::npos ? ct.size() : next + 1;
    if (iequals(key, name)) return value;
  }
  return std::nullopt;
}

// -- content_type_allowlist ---------------------------------------------------

content_type_allowlist::content_type_allowlist(content_type_options options)
    : options_(std::move(options)),
      counters_("content_type", options_.name, {"accepted", "refused"}) {
  if (options_.allowed.empty())
    throw config_error(
        "content_type_allowlist: allowed is empty; list the media types the "
        "route accepts, such as application/json");
  for (auto& a : options_.allowed) {
    auto m = media_type_of(a);
    if (m.empty() || m != to_ascii_lower(a))
      throw config_error("content_type_allowlist: '" + a +
                         "' is not a media type or range (type/subtype, type/*), without "
                         "parameters");
    if (m.starts_with("*/") && m != "*/*")
      throw config_error("content_type_allowlist: '" + a + "' is not a media range");
    a = m;
    accept_list_ += (accept_list_.empty() ? "" : ", ") + a;
  }
}

bool content_type_allowlist::allows(std::string_view content_type) const {
  auto m = media_type_of(content_type);
  if (m.empty()) return false;
  auto type = std::string_view(m).substr(0, m.find('/'));
  return std::any_of(options_.allowed.begin(), options_.allowed.end(), [&](const std::string& a) {
    if (a == "*/*" || a == m) return true;
    return a.ends_with("/*") && std::string_view(a).substr(0, a.size() - 2) == type;
  });
}

asio::awaitable<response> content_type_allowlist::handle(request& req, context& ctx,
                                                         next_handler next) const {
  if (!options_.check_empty_bodies && !has_body(req)) co_return co_await next(req, ctx);

  // One Content-Type only: two could be read differently by two parsers.
  auto [first, last] = req.base().equal_range(http::field::content_type);
  bool ok = first != last && std::next(first) == last && allows(first->value());
  if (ok) {
    counters_.add(c_accepted);
    co_return co_await next(req, ctx);
  }

  counters_.add(c_refused);
  nlohmann::json details;
  details["accepted"] = options_.allowed;
  auto res =
      ctx.error(req, http::status::unsupported_media_type, "unsupported media type", &details);
  if (req.method() == http::verb::post) res.set("Accept-Post", accept_list_);
  if (req.method() == http::verb::patch) res.set("Accept-Patch", accept_list_);
  co_return res;
}

// -- content_encoding ---------------------------------------------------------

decompress_status decompress_body(std::string_view coding, std::string_view data,
                                  std::uint64_t limit, std::string& out) {
  std::string c = to_ascii_lower(coding);
  int window;
  if (c == "gzip" || c == "x-gzip") {
    window = 16 + MAX_WBITS;  // gzip wrapper only
  } else if (c == "deflate") {
    window = MAX_WBITS;  // zlib wrapper (RFC 9110 §8.4.1.2); raw tried below
  } else {
    return decompress_status::unsupported;
  }

  auto attempt = [&](int bits) -> decompress_status {
    out.clear();
    z_stream zs{};
    if (inflateInit2(&zs, bits) != Z_OK) return decompress_status::corrupt;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    char chunk[16384];
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
      zs.next_out = reinterpret_cast<Bytef*>(chunk);
      zs.avail_out = sizeof chunk;
      rc = inflate(&zs, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END) break;
      auto produced = sizeof chunk - zs.avail_out;
      if (out.size() + produced > limit) {
        inflateEnd(&zs);
        return decompress_status::too_large;
      }
      out.append(chunk, produced);
      if (rc == Z_OK && produced == 0 && zs.avail_in == 0) break;  // truncated
    }
    bool clean = rc == Z_STREAM_END && zs.avail_in == 0;
    inflateEnd(&zs);
    return clean ? decompress_status::ok : decompress_status::corrupt;
  };

  auto status = attempt(window);
  if (status == decompress_status::corrupt && c == "deflate") status = attempt(-MAX_WBITS);
  if (status != decompress_status::ok) out.clear();
  return status;
}

content_encoding::content_encoding(content_encoding_options options)
    : options_(std::move(options)),
      counters_("content_encoding", options_.name,
                {"passed", "decoded", "refused", "too_large", "corrupt"}) {
  if (options_.max_decompressed == 0)
    throw config_error(
        "content_encoding: max_decompressed is 0; give the largest decoded body "
        "the route accepts, in bytes");
}

asio::awaitable<response> content_encoding::handle(request& req, context& ctx,
                                                   next_handler next) const {
  // Gather every coding, over repeated headers and comma lists.
  std::vector<std::string> codings;
  for (auto [it, end] = req.base().equal_range(http::field::content_encoding); it != end; ++it) {
    std::string_view v = it->value();
    while (!v.empty()) {
      auto comma = v.find(',');
      auto item = trim_ows(v.substr(0, comma));
      if (!item.empty()) {
        std::string s = to_ascii_lower(item);
        if (s != "identity") codings.push_back(std::move(s));
      }
      v.remove_prefix(comma == std::string_view::npos ? v.size() : comma + 1);
    }
  }
  if (codings.empty()) {
    counters_.add(e_passed);
    co_return co_await next(req, ctx);
  }

  auto refuse = [&](std::string_view accept) {
    counters_.add(e_refused);
    auto res =
        ctx.error(req, http::status::unsupported_media_type, "content encoding not supported");
    res.set(http::field::accept_encoding, accept);
    return res;
  };
  if (options_.policy == coding_policy::refuse) co_return refuse("identity");
  // Stacked codings multiply a bomb's ratio; nobody needs them for uploads.
  if (codings.size() != 1) co_return refuse("gzip, deflate, identity");

  std::string decoded;
  switch (decompress_body(codings[0], req.body(), options_.max_decompressed, decoded)) {
    case decompress_status::ok:
      break;
    case decompress_status::unsupported:
      co_return refuse("gzip, deflate, identity");
    case decompress_status::too_large:
      counters_.add(e_too_large);
      co_return ctx.error(req, http::status::payload_too_large, "decompressed body too large");
    case decompress_status::corrupt:
      counters_.add(e_corrupt);
      co_return ctx.error(req, http::status::bad_request, "body could not be decompressed");
  }

  counters_.add(e_decoded);
  req.body() = std::move(decoded);
  req.erase(http::field::content_encoding);
  req.prepare_payload();
  co_return co_await next(req, ctx);
}

}  // namespace portcullis
