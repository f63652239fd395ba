// Fuzz target of Content-Type parsing (media_type_of, media_type_parameter,
// content_type_allowlist::allows) and Content-Encoding decoding
// (decompress_body).
//
// Input: byte 0 picks the mode and the decoded-size limit (2^(b>>3 % 16)).
// Properties, for any bytes:
//  - media_type_of gives "" or a lower-case "token/token" that maps to
//    itself; case in the input does not change it;
//  - allows() equals a reference over media_type_of for the allowlist
//    {application/json, text/*};
//  - a parameter written as a quoted-string reads back as what was written;
//  - decoding never produces more than the limit; what decodes as ok is
//    what zlib itself inflates; any bytes gzip- or deflate-compressed by
//    zlib decode back to themselves, or are too_large when above the limit.
#include "portcullis/content_type.hpp"

#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using portcullis::decompress_status;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "content_coding property broken: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) broken(what);
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

void check_media_type(std::string_view text) {
  static const portcullis::content_type_allowlist allowlist{
      portcullis::content_type_options{.allowed = {"application/json", "text/*"}}};
  const std::string m = portcullis::media_type_of(text);
  if (!m.empty()) {
    check(m.find('/') != std::string::npos && m.find('/') == m.rfind('/'), "not type/subtype");
    for (char c : m) check(!(c >= 'A' && c <= 'Z') && c > ' ' && c != ';', "not a lower token");
    check(portcullis::media_type_of(m) == m, "media_type_of is not idempotent");
  }
  check(portcullis::media_type_of(upper(text)) == m, "case changes the media type");
  const bool expected = m == "application/json" || m.starts_with("text/");
  check(allowlist.allows(text) == expected, "allows() differs from the reference");
  (void)portcullis::media_type_parameter(text, "charset");
}

void check_parameter(std::string_view value) {
  std::string ct = "multipart/form-data; charset=utf-8; boundary=\"";
  for (char c : value) {
    if (c == '"' || c == '\\') ct += '\\';
    ct += c;
  }
  ct += "\"; x=y";
  const auto got = portcullis::media_type_parameter(ct, "boundary");
  check(got && *got == value, "a quoted parameter does not read back");
  check(portcullis::media_type_parameter(ct, "BOUNDARY") == got, "parameter names have case");
}

// zlib's own inflate of the whole input: the reference decoder.
bool reference_inflate(std::string_view data, int bits, std::string& out) {
  out.clear();
  z_stream zs{};
  if (inflateInit2(&zs, bits) != Z_OK) return false;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  char buf[4096];
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > (1u << 20)) break;
  }
  const bool ok = rc == Z_STREAM_END && zs.avail_in == 0;
  inflateEnd(&zs);
  return ok;
}

std::string compress(std::string_view data, int bits) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    broken("deflateInit2");
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) broken("deflate");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void check_decoding(std::uint8_t flags, std::string_view data, std::uint64_t limit) {
  static const char* codings[] = {"gzip", "deflate", "x-gzip", "DEFLATE"};
  const std::string_view coding = codings[flags & 3];
  const bool gzip = coding == "gzip" || coding == "x-gzip";
  std::string out;

  // Any bytes as an encoded body.
  auto status = portcullis::decompress_body(coding, data, limit, out);
  if (status == decompress_status::ok) {
    check(out.size() <= limit, "decoded past the limit");
    std::string ref;
    const bool zlib_ok = reference_inflate(data, gzip ? 16 + MAX_WBITS : MAX_WBITS, ref) ||
                         (!gzip && reference_inflate(data, -MAX_WBITS, ref));
    check(zlib_ok && ref == out, "decoded differently from zlib");
  } else {
    check(status != decompress_status::unsupported, "a supported coding is unsupported");
  }

  // The same bytes compressed by zlib decode back to themselves.
  const int bits = gzip ? 16 + MAX_WBITS : ((flags & 4) != 0 ? -MAX_WBITS : MAX_WBITS);
  status = portcullis::decompress_body(coding, compress(data, bits), limit, out);
  if (data.size() > limit) {
    check(status == decompress_status::too_large, "a body above the limit is not too_large");
  } else {
    check(status == decompress_status::ok && out == data, "a compressed body does not decode");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] & 3) {
    case 0:
      check_media_type(text);
      break;
    case 1:
      check_parameter(text);
      break;
    default:
      check_decoding(static_cast<std::uint8_t>(data[0] >> 2), text,
                     std::uint64_t{1} << ((data[0] >> 4) % 16));
      break;
  }
  return 0;
}
