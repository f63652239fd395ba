// Fuzz target of parse_multipart (multipart/form-data bodies) and the file
// type sniffing behind it.
//
// Input: byte 0 picks the mode. Raw mode: the first line is the
// Content-Type value, the rest the body. Built mode: the rest, split at
// 0xFF, are parts (the first byte of each says field or file) that the
// target writes as a form with a boundary found nowhere in them.
// Properties, for any bytes:
//  - an accepted form respects every limit, its data are views into the
//    body, and each file's declared type is allowed and, with the magic
//    bytes checked, is what its content sniffs as;
//  - a refusal has a reason and a message;
//  - an accepted form written out again with a new boundary parses to the
//    same parts (names, file names, types, data);
//  - a form the target built is accepted, as exactly the parts it holds.
#include "portcullis/multipart.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using portcullis::multipart_form;
using portcullis::multipart_options;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "multipart property broken: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) broken(what);
}

struct part {
  std::string name;
  std::optional<std::string> filename;
  std::string content_type;
  std::string data;
  bool operator==(const part&) const = default;
};

std::vector<part> parts_of(const multipart_form& form) {
  std::vector<part> out;
  for (const auto& p : form.parts)
    out.push_back({p.name, p.filename, p.content_type, std::string(p.data)});
  return out;
}

// A quoted-string for a Content-Disposition parameter.
std::string as_quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

// Writes `parts` as a form; the boundary is one that occurs in no part.
// Returns the Content-Type value, or nothing if no boundary fits.
std::optional<std::string> write_form(const std::vector<part>& parts, std::string& body) {
  std::string boundary = "fuzz-boundary-";
  for (;;) {
    bool clash = false;
    for (const auto& p : parts)
      clash = clash || p.data.find(boundary) != std::string::npos ||
              p.name.find(boundary) != std::string::npos ||
              (p.filename && p.filename->find(boundary) != std::string::npos);
    if (!clash) break;
    if (boundary.size() == 70) return std::nullopt;
    boundary += 'z';
  }
  body.clear();
  for (const auto& p : parts) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=" + as_quoted(p.name);
    if (p.filename) body += "; filename=" + as_quoted(*p.filename);
    body += "\r\n";
    if (!p.content_type.empty()) body += "Content-Type: " + p.content_type + "\r\n";
    body += "\r\n" + p.data + "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return "multipart/form-data; boundary=" + boundary;
}

bool writable(std::string_view s) {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

void check_accepted(const multipart_form& form, std::string_view body, const multipart_options& o) {
  std::size_t files = 0;
  check(form.parts.size() <= o.max_parts, "too many parts accepted");
  for (const auto& p : form.parts) {
    check(p.data.empty() || (p.data.data() >= body.data() &&
                             p.data.data() + p.data.size() <= body.data() + body.size()),
          "part data outside the body");
    const bool file = p.filename && !(p.filename->empty() && p.data.empty());
    if (!file) {
      check(p.data.size() <= o.max_field_size, "field above its limit");
      continue;
    }
    ++files;
    check(p.data.size() <= o.max_file_size, "file above its limit");
    const std::string declared =
        p.content_type.empty() ? "application/octet-stream" : p.content_type;
    bool allowed = false;
    for (const auto& t : o.allowed_types) allowed = allowed || t == declared;
    check(allowed, "a file of a type that is not allowed");
    check(!o.check_magic_bytes || p.sniffed_type == declared ||
              (p.sniffed_type == "text/plain" && declared == "text/plain"),
          "a file whose content is not its declared type");
    check(p.sniffed_type == portcullis::sniff_type(p.data), "sniffed type is not sniff_type");
  }
  check(files <= o.max_files, "too many files accepted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  multipart_options o;
  o.max_parts = 8;
  o.max_files = 3;
  o.max_file_size = 512;
  o.max_field_size = 256;
  o.max_part_header_size = 256;
  o.allowed_types = {"image/png", "image/gif", "application/pdf", "text/plain"};
  o.check_magic_bytes = (data[0] & 2) == 0;

  if ((data[0] & 1) == 0) {
    // Raw: a Content-Type line, then the body.
    const auto nl = text.find('\n');
    const std::string_view content_type = text.substr(0, nl);
    const std::string_view body = nl == std::string_view::npos ? "" : text.substr(nl + 1);
    const auto form = portcullis::parse_multipart(content_type, body, o);
    if (!form) {
      check(!form.message.empty(), "a refusal without a message");
      return 0;
    }
    check_accepted(form, body, o);

    // Written out again, it reads the same.
    auto parts = parts_of(form);
    for (const auto& p : parts)
      if (!writable(p.name) || (p.filename && !writable(*p.filename))) return 0;
    std::string again;
    const auto type = write_form(parts, again);
    if (!type) return 0;
    // Headers are written in full here: give them room.
    auto roomy = o;
    roomy.max_part_header_size = 4096;
    const auto reparsed = portcullis::parse_multipart(*type, again, roomy);
    check(static_cast<bool>(reparsed), "a re-written form is refused");
    check(parts_of(reparsed) == parts, "a re-written form reads differently");
    return 0;
  }

  // Built: parts from the input, all within the limits, as fields or as
  // text/plain files without the magic check.
  o.check_magic_bytes = false;
  std::vector<part> parts;
  std::size_t files = 0;
  for (std::size_t start = 0; start < text.size() && parts.size() < o.max_parts;) {
    auto end = text.find('\xff', start);
    if (end == std::string_view::npos) end = text.size();
    auto segment = text.substr(start, end - start);
    start = end + 1;
    if (segment.empty()) continue;
    part p;
    p.name = "f" + std::to_string(parts.size());
    p.data = segment.substr(1);
    if ((segment[0] & 1) != 0 && files < o.max_files && p.data.size() <= o.max_file_size) {
      p.filename = "upload-" + std::to_string(files++) + ".txt";
      p.content_type = "text/plain";
    } else if (p.data.size() > o.max_field_size) {
      p.data.resize(o.max_field_size);
    }
    parts.push_back(std::move(p));
  }
  if (parts.empty()) return 0;
  std::string body;
  const auto type = write_form(parts, body);
  if (!type) return 0;
  const auto form = portcullis::parse_multipart(*type, body, o);
  if (!form) {
    std::fprintf(stderr, "refused: %s\n", form.message.c_str());
    broken("a well-formed form is refused");
  }
  check_accepted(form, body, o);
  check(parts_of(form) == parts, "a well-formed form reads differently");
  return 0;
}
