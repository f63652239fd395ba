#include "portcullis/multipart.hpp"

#include "portcullis/content_type.hpp"
#include "portcullis/detail/ascii.hpp"
#include "portcullis/errc.hpp"

#include <algorithm>

namespace portcullis {
namespace {

enum mp_counter : std::size_t { c_accepted, c_malformed, c_too_large, c_bad_type };

using detail::istarts_with;
using detail::to_ascii_lower;

// RFC 2046 §5.1.1: 1-70 characters of bchars, not ending in a space.
bool valid_boundary(std::string_view b) noexcept {
  if (b.empty() || b.size() > 70 || b.back() == ' ') return false;
  return std::all_of(b.begin(), b.end(), [](char c) {
    return detail::is_ascii_alnum(c) ||
           std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
  });
}

// True for well-formed UTF-8 (no overlongs, surrogates or values past
// U+10FFFF) without NUL or control characters other than tab, CR, LF, FF.
bool is_text(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') || c == 0x7f) return false;
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

// Markup that browsers render as HTML when they sniff (after the WHATWG
// MIME Sniffing "HTML" patterns): a tag followed by a space or '>'.
bool looks_like_html(std::string_view s) noexcept {
  static constexpr std::string_view tags[] = {
      "<!doctype html", "<html", "<head",  "<script", "<iframe", "<h1",   "<div",  "<font",
      "<table",         "<a",    "<style", "<title",  "<b",      "<body", "<br",   "<p",
      "<!--",           "<img",  "<svg",   "<object", "<embed",  "<meta", "<link", "<form"};
  for (auto t : tags) {
    if (!istarts_with(s, t)) continue;
    if (t == "<!--") return true;
    if (s.size() == t.size()) return true;
    char next = s[t.size()];
    if (next == ' ' || next == '>' || next == '\t' || next == '\n' || next == '\r' || next == '/')
      return true;
  }
  return false;
}

bool is_text_type(std::string_view t) noexcept {
  return t.starts_with("text/") || t == "application/json" || t == "application/xml";
}

// One part's headers: Content-Disposition and Content-Type.
struct part_headers {
  std::string_view disposition;
  std::string_view content_type;
};

bool parse_part_headers(std::string_view block, part_headers& out) {
  while (!block.empty()) {
    auto eol = block.find("\r\n");
    auto line = block.substr(0, eol);
    block.remove_prefix(eol == std::string_view::npos ? block.size() : eol + 2);
    if (line.empty()) continue;
    if (line.front() == ' ' || line.front() == '\t') return false;  // obs-fold
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    auto name = line.substr(0, colon);
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    auto n = to_ascii_lower(name);
    if (n == "content-disposition") {
      if (!out.disposition.empty()) return false;  // two: ambiguous
      out.disposition = value;
    } else if (n == "content-type") {
      if (!out.content_type.empty()) return false;
      out.content_type = value;
    }
  }
  return true;
}

multipart_form fail(multipart_form form, multipart_error e, std::string message) {
  form.error = e;
  form.message = std::move(message);
  return form;
}

}  // namespace

std::string_view sniff_type(std::string_view d) noexcept {
  auto starts = [d](std::string_view p) { return d.starts_with(p); };
  using namespace std::string_view_literals;
  if (starts("\x89PNG\r\n\x1a\n"sv)) return "image/png";
  if (starts("\xff\xd8\xff"sv)) return "image/jpeg";
  if (starts("GIF87a") || starts("GIF89a")) return "image/gif";
  if (d.size() >= 12 && starts("RIFF") && d.substr(8, 4) == "WEBP") return "image/webp";
  if (d.size() >= 26 && starts("BM")) {
    // The DIB header size says whether this is really a bitmap.
    auto h = static_cast<unsigned char>(d[14]);
    if (d[15] == 0 && d[16] == 0 && d[17] == 0 &&
        (h == 12 || h == 40 || h == 52 || h == 56 || h == 108 || h == 124))
      return "image/bmp";
  }
  if (starts("%PDF-")) return "application/pdf";
  if (starts("PK\x03\x04"sv) || starts("PK\x05\x06"sv)) return "application/zip";
  if (starts("\x1f\x8b\x08"sv)) return "application/gzip";

  // Text: skip a UTF-8 BOM and leading white space before looking for markup.
  std::string_view t = d;
  if (t.starts_with("\xef\xbb\xbf"sv)) t.remove_prefix(3);
  auto first = t.find_first_not_of(" \t\r\n\f");
  auto head = first == std::string_view::npos ? std::string_view{} : t.substr(first);
  if (looks_like_html(head)) return "text/html";
  if (istarts_with(head, "<?xml")) {
    auto window = to_ascii_lower(head.substr(0, 1024));
    return window.find("<svg") != std::string::npos ? "image/svg+xml" : "application/xml";
  }
  if (!d.empty() && is_text(t)) return "text/plain";
  return "application/octet-stream";
}

multipart_form parse_multipart(std::string_view content_type, std::string_view body,
                               const multipart_options& o) {
  multipart_form form;
  if (media_type_of(content_type) != "multipart/form-data")
    return fail(std::move(form), multipart_error::not_multipart, "not multipart/form-data");
  auto boundary = media_type_parameter(content_type, "boundary");
  if (!boundary || !valid_boundary(*boundary))
    return fail(std::move(form), multipart_error::not_multipart,
                "multipart/form-data needs a boundary of 1-70 valid characters");

  const std::string delim = "--" + *boundary;
  const std::string next_delim = "\r\n" + delim;

  // The first delimiter opens the body, or follows a preamble's CRLF.
  std::size_t pos;
  if (body.starts_with(delim)) {
    pos = 0;
  } else {
    pos = body.find(next_delim);
    if (pos == std::string_view::npos)
      return fail(std::move(form), multipart_error::malformed, "no multipart boundary in body");
    pos += 2;
  }

  std::size_t files = 0;
  while (true) {
    pos += delim.size();
    if (body.substr(pos, 2) == "--") break;  // the close delimiter; the epilogue is ignored
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n")
      return fail(std::move(form), multipart_error::malformed,
                  "a boundary line is not followed by CRLF");
    pos += 2;

    // Headers, bounded before the search so a huge block is not scanned.
    std::size_t data_start;
    std::string_view header_block;
    if (body.substr(pos, 2) == "\r\n") {
      data_start = pos + 2;
    } else {
      auto window = body.substr(pos, o.max_part_header_size + 4);
      auto end = window.find("\r\n\r\n");
      if (end == std::string_view::npos)
        return window.size() > o.max_part_header_size
                   ? fail(std::move(form), multipart_error::part_header_too_large,
                          "part " + std::to_string(form.parts.size() + 1) + " has headers over " +
                              std::to_string(o.max_part_header_size) + " bytes")
                   : fail(std::move(form), multipart_error::malformed,
                          "a part's headers do not end");
      header_block = body.substr(pos, end);
      data_start = pos + end + 4;
    }
    auto end = body.find(next_delim, data_start);
    if (end == std::string_view::npos)
      return fail(std::move(form), multipart_error::malformed,
                  "the form is not closed by its boundary");

    part_headers h;
    if (!parse_part_headers(header_block, h))
      return fail(std::move(form), multipart_error::malformed, "a part has malformed headers");
    auto disposition = to_ascii_lower(h.disposition.substr(0, h.disposition.find(';')));
    while (!disposition.empty() && disposition.back() == ' ') disposition.pop_back();
    auto name = media_type_parameter(h.disposition, "name");
    if (disposition != "form-data" || !name)
      return fail(std::move(form), multipart_error::malformed,
                  "a part lacks Content-Disposition: form-data with a name");

    if (form.parts.size() + 1 > o.max_parts)
      return fail(std::move(form), multipart_error::too_many_parts,
                  "more than " + std::to_string(o.max_parts) + " parts");

    multipart_part part;
    part.name = std::move(*name);
    auto filename = media_type_parameter(h.disposition, "filename");
    part.filename = filename;
    part.content_type = media_type_of(h.content_type);
    part.data = body.substr(data_start, end - data_start);
    const std::string label = "part '" + part.name.substr(0, 64) + "'";

    // An unfilled file input: empty file name and no data. Not a file.
    bool is_file = filename && !(filename->empty() && part.data.empty());
    if (is_file) {
      if (++files > o.max_files)
        return fail(std::move(form), multipart_error::too_many_files,
                    "more than " + std::to_string(o.max_files) + " files");
      if (part.data.size() > o.max_file_size)
        return fail(
            std::move(form), multipart_error::file_too_large,
            "file in " + label + " is larger than " + std::to_string(o.max_file_size) + " bytes");
      std::string declared =
          part.content_type.empty() ? "application/octet-stream" : part.content_type;
      bool allowed =
          std::any_of(o.allowed_types.begin(), o.allowed_types.end(),
                      [&](const std::string& a) { return to_ascii_lower(a) == declared; });
      if (!allowed)
        return fail(std::move(form), multipart_error::type_not_allowed,
                    "file in " + label + " has type " + declared + ", which is not accepted");
      part.sniffed_type = sniff_type(part.data);
      if (o.check_magic_bytes && part.sniffed_type != declared &&
          !(is_text_type(declared) && part.sniffed_type == "text/plain"))
        return fail(std::move(form), multipart_error::type_mismatch,
                    "file in " + label + " is declared " + declared + " but its content is " +
                        std::string(part.sniffed_type));
    } else if (part.data.size() > o.max_field_size) {
      return fail(
          std::move(form), multipart_error::field_too_large,
          "field " + label + " is larger than " + std::to_string(o.max_field_size) + " bytes");
    }
    form.parts.push_back(std::move(part));
    pos = end + 2;
  }
  return form;
}

multipart_limits::multipart_limits(multipart_options options)
    : options_(std::move(options)),
      counters_("multipart", options_.name, {"accepted", "malformed", "too_large", "bad_type"}) {
  const auto& o = options_;
  if (o.max_parts == 0 || o.max_file_size == 0 || o.max_field_size == 0 ||
      o.max_part_header_size == 0)
    throw config_error(
        "multipart_limits: a limit is 0; use max_files = 0 to refuse files, and "
        "positive values for max_parts, max_file_size, max_field_size and "
        "max_part_header_size");
  for (const auto& t : o.allowed_types)
    if (media_type_of(t).empty() || t.find('*') != std::string::npos)
      throw config_error("multipart_limits: allowed type '" + t +
                         "' is not a media type (type/subtype, no wildcards, no parameters)");
}

asio::awaitable<response> multipart_limits::handle(request& req, context& ctx,
                                                   next_handler next) const {
  auto content_type = req[http::field::content_type];
  if (media_type_of(content_type) != "multipart/form-data") co_return co_await next(req, ctx);

  auto form = parse_multipart(content_type, req.body(), options_);
  http::status status = http::status::ok;
  switch (form.error) {
    case multipart_error::none:
      counters_.add(c_accepted);
      co_return co_await next(req, ctx);
    case multipart_error::not_multipart:
    case multipart_error::malformed:
      counters_.add(c_malformed);
      status = http::status::bad_request;
      break;
    case multipart_error::too_many_parts:
    case multipart_error::too_many_files:
    case multipart_error::file_too_large:
    case multipart_error::field_too_large:
    case multipart_error::part_header_too_large:
      counters_.add(c_too_large);
      status = http::status::payload_too_large;
      break;
    case multipart_error::type_not_allowed:
    case multipart_error::type_mismatch:
      counters_.add(c_bad_type);
      status = http::status::unsupported_media_type;
      break;
  }
  co_return ctx.error(req, status, form.message);
}

}  // namespace portcullis
