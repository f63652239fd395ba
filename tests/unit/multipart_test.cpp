#include "portcullis/multipart.hpp"

#include "portcullis/blocking.hpp"
#include "portcullis/chain.hpp"
#include "portcullis/errc.hpp"

#include <gtest/gtest.h>

namespace portcullis {
namespace {

using namespace std::string_literals;

const std::string png = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR"s + std::string(40, '\x01');
const std::string jpeg = "\xff\xd8\xff\xe0\0\x10JFIF\0"s + std::string(40, '\x02');
const std::string pdf = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"s;
const std::string elf =
    "\x7f"
    "ELF\x02\x01\x01\0"s +
    std::string(40, '\0');

struct part_spec {
  std::string name;
  std::optional<std::string> filename;
  std::string type;  // empty: no Content-Type header
  std::string data;
};

const std::string boundary = "----portcullis7MA4YWxkTrZu0gW";

std::string form(const std::vector<part_spec>& parts) {
  std::string out;
  for (const auto& p : parts) {
    out += "--" + boundary + "\r\n";
    out += "Content-Disposition: form-data; name=\"" + p.name + "\"";
    if (p.filename) out += "; filename=\"" + *p.filename + "\"";
    out += "\r\n";
    if (!p.type.empty()) out += "Content-Type: " + p.type + "\r\n";
    out += "\r\n" + p.data + "\r\n";
  }
  return out + "--" + boundary + "--\r\n";
}

const std::string form_type = "multipart/form-data; boundary=" + boundary;

multipart_form parse(const std::string& body, const multipart_options& o = {}) {
  return parse_multipart(form_type, body, o);
}

TEST(multipart, sniffs_types_by_magic_bytes) {
  EXPECT_EQ(sniff_type(png), "image/png");
  EXPECT_EQ(sniff_type(jpeg), "image/jpeg");
  EXPECT_EQ(sniff_type("GIF89a\x01\0"s), "image/gif");
  EXPECT_EQ(sniff_type("RIFF\x10\0\0\0WEBPVP8 "s), "image/webp");
  EXPECT_EQ(sniff_type("BM" + std::string(12, '\0') + "\x28\0\0\0"s + std::string(8, '\0')),
            "image/bmp");
  EXPECT_EQ(sniff_type("BMW drivers, a list\n"), "text/plain");  // not a bitmap
  EXPECT_EQ(sniff_type(pdf), "application/pdf");
  EXPECT_EQ(sniff_type("PK\x03\x04rest"s), "application/zip");
  EXPECT_EQ(sniff_type("\x1f\x8b\x08\0"s), "application/gzip");
  EXPECT_EQ(sniff_type("name,qty\nbolt,3\n"), "text/plain");
  EXPECT_EQ(sniff_type("\xef\xbb\xbf  caf\xc3\xa9\n"s), "text/plain");
  EXPECT_EQ(sniff_type("\n  <!DOCTYPE html><p>x"), "text/html");
  EXPECT_EQ(sniff_type("<script>alert(1)</script>"), "text/html");
  EXPECT_EQ(sniff_type("<SVG onload=alert(1)>"), "text/html");
  EXPECT_EQ(sniff_type("<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\">"),
            "image/svg+xml");
  EXPECT_EQ(sniff_type("<?xml version=\"1.0\"?><a/>"), "application/xml");
  EXPECT_EQ(sniff_type("<abc> is not a tag we know"), "text/plain");
  EXPECT_EQ(sniff_type(elf), "application/octet-stream");
  EXPECT_EQ(sniff_type("caf\xe9 latin-1"s), "application/octet-stream");  // not UTF-8
  EXPECT_EQ(sniff_type("\xed\xa0\x80 surrogate"s), "application/octet-stream");
  EXPECT_EQ(sniff_type(""), "application/octet-stream");
}

TEST(multipart, parses_fields_and_files) {
  auto body = form({{"title", std::nullopt, "", "Holiday"},
                    {"photo", "beach.png", "image/png", png},
                    {"doc", "a \\\"b\\\".pdf", "application/pdf", pdf},
                    {"empty", "", "application/octet-stream", ""}});
  auto f = parse(body);
  ASSERT_TRUE(f) << f.message;
  ASSERT_EQ(f.parts.size(), 4u);
  EXPECT_EQ(f.parts[0].name, "title");
  EXPECT_FALSE(f.parts[0].filename);
  EXPECT_EQ(f.parts[0].data, "Holiday");
  EXPECT_EQ(f.parts[1].filename, "beach.png");
  EXPECT_EQ(f.parts[1].content_type, "image/png");
  EXPECT_EQ(f.parts[1].sniffed_type, "image/png");
  EXPECT_EQ(f.parts[1].data, png);
  EXPECT_EQ(f.parts[2].filename, "a \"b\".pdf");  // quoted-pairs decoded
  EXPECT_EQ(f.parts[3].filename, "");             // an unfilled file input, not a file
  // The data views point into the body: no copies.
  EXPECT_GE(f.parts[1].data.data(), body.data());
  EXPECT_LE(f.parts[1].data.data() + f.parts[1].data.size(), body.data() + body.size());

  // A preamble and an epilogue are allowed (RFC 2046 §5.1.1).
  auto f2 = parse("preamble\r\n" + body + "epilogue");
  EXPECT_TRUE(f2) << f2.message;
}

TEST(multipart, limits_on_counts_and_sizes) {
  multipart_options o{.max_parts = 3, .max_files = 1, .max_file_size = 100, .max_field_size = 5};
  auto two_files = form({{"a", "a.png", "image/png", png}, {"b", "b.png", "image/png", png}});
  auto f = parse(two_files, o);
  EXPECT_EQ(f.error, multipart_error::too_many_files);
  EXPECT_EQ(f.message, "more than 1 files");

  auto many =
      form({{"a", {}, "", "1"}, {"b", {}, "", "2"}, {"c", {}, "", "3"}, {"d", {}, "", "4"}});
  EXPECT_EQ(parse(many, o).error, multipart_error::too_many_parts);

  auto big = form({{"a", "a.png", "image/png", png + std::string(100, 'x')}});
  f = parse(big, o);
  EXPECT_EQ(f.error, multipart_error::file_too_large);
  EXPECT_EQ(f.message, "file in part 'a' is larger than 100 bytes");

  EXPECT_EQ(parse(form({{"note", {}, "", "123456"}}), o).error, multipart_error::field_too_large);
  EXPECT_TRUE(parse(form({{"note", {}, "", "12345"}}), o));

  std::string huge_header = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" +
                            std::string(5000, 'n') + "\"\r\n\r\nx\r\n--" + boundary + "--\r\n";
  EXPECT_EQ(parse(huge_header).error, multipart_error::part_header_too_large);
}

TEST(multipart, types_are_checked_against_the_content) {
  // Allowed and matching.
  EXPECT_TRUE(parse(form({{"f", "x.jpg", "image/jpeg", jpeg}})));
  // A type that is not allowed, however honest.
  auto f = parse(form({{"f", "x.exe", "application/octet-stream", elf}}));
  EXPECT_EQ(f.error, multipart_error::type_not_allowed);
  EXPECT_EQ(f.message, "file in part 'f' has type application/octet-stream, which is not accepted");
  EXPECT_EQ(parse(form({{"f", "x", "", png}})).error, multipart_error::type_not_allowed);
  // A lie: an executable, and an HTML page, declared as a PNG.
  f = parse(form({{"f", "x.png", "image/png", elf}}));
  EXPECT_EQ(f.error, multipart_error::type_mismatch);
  EXPECT_EQ(f.message,
            "file in part 'f' is declared image/png but its content is "
            "application/octet-stream");
  EXPECT_EQ(parse(form({{"f", "x.png", "image/png", "<html><script>x</script>"}})).error,
            multipart_error::type_mismatch);
  EXPECT_EQ(parse(form({{"f", "x.jpg", "image/jpeg", png}})).error, multipart_error::type_mismatch);

  // Text types match text content, but not markup.
  multipart_options text{.allowed_types = {"text/csv", "text/plain"}};
  EXPECT_TRUE(parse(form({{"f", "a.csv", "text/csv", "a,b\n1,2\n"}}), text));
  EXPECT_EQ(parse(form({{"f", "a.txt", "text/plain", "<script>alert(1)</script>"}}), text).error,
            multipart_error::type_mismatch);
  // Without magic checks only the declared type counts.
  multipart_options trusting{.check_magic_bytes = false};
  EXPECT_TRUE(parse(form({{"f", "x.png", "image/png", elf}}), trusting));
}

TEST(multipart, malformed_forms) {
  auto ok = form({{"a", {}, "", "1"}});
  EXPECT_EQ(parse_multipart("multipart/form-data", ok, {}).error, multipart_error::not_multipart);
  EXPECT_EQ(parse_multipart("multipart/form-data; boundary=" + std::string(71, 'b'), ok, {}).error,
            multipart_error::not_multipart);
  EXPECT_EQ(parse_multipart("application/json", ok, {}).error, multipart_error::not_multipart);
  EXPECT_EQ(parse("no boundary here").error, multipart_error::malformed);
  EXPECT_EQ(parse(ok.substr(0, ok.size() - 10)).error, multipart_error::malformed);  // unclosed
  EXPECT_EQ(parse("--" + boundary + "\r\nContent-Type: text/plain\r\n\r\nx\r\n--" + boundary + "--")
                .error,
            multipart_error::malformed);  // no Content-Disposition
  EXPECT_EQ(
      parse("--" + boundary + "\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--" +
            boundary + "--")
          .error,
      multipart_error::malformed);
  EXPECT_EQ(parse("--" + boundary + "\r\nContent-Disposition: form-data; name=\"a\"\r\n" +
                  " folded\r\n\r\nx\r\n--" + boundary + "--")
                .error,
            multipart_error::malformed);
  EXPECT_EQ(parse("--" + boundary + "junk\r\n\r\nx\r\n--" + boundary + "--").error,
            multipart_error::malformed);
}

// -- the middleware over a chain ---------------------------------------------

TEST(multipart, middleware_answers_with_the_right_status) {
  chain::builder b;
  b.route(http::verb::post, "/upload",
          [](request& req, context&) -> asio::awaitable<response> {
            response res{http::status::created, req.version()};
            res.prepare_payload();
            co_return res;
          },
          {.middleware = {std::make_shared<multipart_limits>(
               multipart_options{.max_files = 1, .max_file_size = 1000})}});
  auto c = std::move(b).build();
  auto post = [&](std::string body, std::string type = form_type) {
    request req{http::verb::post, "/upload", 11};
    req.set(http::field::host, "a");
    req.set(http::field::content_type, type);
    req.body() = std::move(body);
    req.prepare_payload();
    context ctx;
    return run_blocking(c, req, ctx);
  };
  EXPECT_EQ(post(form({{"f", "a.png", "image/png", png}})).result(), http::status::created);
  EXPECT_EQ(
      post(form({{"f", "a.png", "image/png", png}, {"g", "b.png", "image/png", png}})).result(),
      http::status::payload_too_large);
  EXPECT_EQ(post(form({{"f", "a.png", "image/png", png + std::string(2000, 'x')}})).result(),
            http::status::payload_too_large);
  auto lie = post(form({{"f", "a.png", "image/png", elf}}));
  EXPECT_EQ(lie.result(), http::status::unsupported_media_type);
  EXPECT_EQ(lie.body(), R"({"error":"file in part 'f' is declared image/png but its content is )"
                        R"(application/octet-stream"})");
  EXPECT_EQ(post("garbage").result(), http::status::bad_request);
  EXPECT_EQ(post("{}", "application/json").result(), http::status::created);  // not multipart

  const auto* counters = c.counters()[1];
  EXPECT_EQ(counters->value("accepted"), 1u);
  EXPECT_EQ(counters->value("too_large"), 2u);
  EXPECT_EQ(counters->value("bad_type"), 1u);
  EXPECT_EQ(counters->value("malformed"), 1u);

  EXPECT_THROW(multipart_limits({.max_parts = 0}), config_error);
  EXPECT_THROW(multipart_limits({.allowed_types = {"image/*"}}), config_error);
}

}  // namespace
}  // namespace portcullis
