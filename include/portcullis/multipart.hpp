// portcullis/multipart.hpp — limits for multipart/form-data uploads, with
// file types checked against the content's magic bytes.
//
// The declared type of an uploaded file is whatever the client typed; the
// first bytes of the file say what it is. `multipart_limits` parses the
// form once (no copies of the data: views into the body), counts files and fields,
// bounds each one's size, and accepts a file only when its declared type is
// allowed *and* its content starts like that type:
//
//     b.route(http::verb::post, "/upload", upload,
//             {.body_limit = 10 << 20,
//              .middleware = {std::make_shared<portcullis::multipart_limits>(
//                  portcullis::multipart_options{
//                      .max_files = 5, .max_file_size = 5 << 20,
//                      .allowed_types = {"image/png", "image/jpeg", "application/pdf"}})}});
//
//     // In the handler, the same parser gives the parts:
//     auto form = portcullis::parse_multipart(req[http::field::content_type], req.body(), opts);
//     for (const auto& p : form.parts) if (p.filename) save(*p.filename, p.data);
//
// Answers: 400 for a malformed form, 413 for too many parts or files or a
// part that is too large, 415 for a file whose type is not allowed or whose
// content does not match its declared type. Each is JSON naming the limit.
//
// Requests that are not multipart/form-data pass untouched; pair this with
// `content_type_allowlist` to require multipart on the route.
//
// Sniffing knows PNG, JPEG, GIF, WebP, BMP, PDF, ZIP, gzip, and text
// (UTF-8 without NUL bytes; HTML and SVG/XML are recognised as such, so a
// script cannot pass as text/plain). It does not look inside containers: a
// ZIP is a ZIP, whatever office format it claims to be.
#pragma once

#include "portcullis/counters.hpp"
#include "portcullis/middleware.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

struct multipart_options {
  /// Parts of any kind (fields and files).
  std::size_t max_parts = 100;
  /// File parts (those with a filename).
  std::size_t max_files = 10;
  /// Bytes of one file.
  std::uint64_t max_file_size = 5 << 20;
  /// Bytes of one non-file field.
  std::uint64_t max_field_size = 64 << 10;
  /// Bytes of the headers of one part.
  std::size_t max_part_header_size = 4096;
  /// Types a file may declare and have. Text types ("text/plain",
  /// "text/csv", "application/json") match content that sniffs as text.
  std::vector<std::string> allowed_types = {"image/png", "image/jpeg", "image/gif", "image/webp",
                                            "application/pdf"};
  /// Check the content against the declared type (on by default). Off, only
  /// the declared type is checked, which any client can lie about.
  bool check_magic_bytes = true;
  /// The instance name in counters.
  std::string name = "multipart";
};

/// One part of a form; `data` views into the request body.
struct multipart_part {
  /// The form field's name (quoted-pairs decoded).
  std::string name;
  /// The file name, for file parts. As sent: never use it as a path (see
  /// sanitize_filename in sanitize.hpp).
  std::optional<std::string> filename;
  /// The declared Content-Type, lower case, no parameters; empty if none.
  std::string content_type;
  /// For files: the type the content sniffs as (see sniff_type).
  std::string_view sniffed_type;
  std::string_view data;
};

/// Why a form was refused.
enum class multipart_error {
  none,
  /// Not multipart/form-data, or no usable boundary.
  not_multipart,
  /// Bad delimiters, headers or Content-Disposition (400).
  malformed,
  too_many_parts,
  too_many_files,
  file_too_large,
  field_too_large,
  part_header_too_large,
  /// A file's declared type is not in allowed_types (415).
  type_not_allowed,
  /// A file's content does not match its declared type (415).
  type_mismatch,
};

struct multipart_form {
  multipart_error error = multipart_error::none;
  /// A message for the client naming the part and the limit.
  std::string message;
  std::vector<multipart_part> parts;

  explicit operator bool() const noexcept { return error == multipart_error::none; }
};

/// Parses and checks a multipart/form-data body (RFC 7578, RFC 2046 §5.1)
/// against `options`. On error, `parts` holds the parts read before it.
multipart_form parse_multipart(std::string_view content_type, std::string_view body,
                               const multipart_options& options);

/// The media type that `data` starts like: "image/png", "image/jpeg",
/// "image/gif", "image/webp", "image/bmp", "application/pdf",
/// "application/zip", "application/gzip", "text/html", "image/svg+xml",
/// "text/plain" (UTF-8 text without NUL), or "application/octet-stream".
std::string_view sniff_type(std::string_view data) noexcept;

/// Enforces `multipart_options` on multipart/form-data requests.
/// Counters: `accepted`, `malformed`, `too_large` (counts, sizes),
/// `bad_type` (not allowed or mismatched). Throws config_error for a zero
/// limit or an allowed type that is not a media type.
class multipart_limits final : public middleware {
 public:
  explicit multipart_limits(multipart_options options = {});

  asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const override;
  const counter_set* counters() const noexcept override { return &counters_; }

  const multipart_options& options() const noexcept { return options_; }

 private:
  multipart_options options_;
  mutable counter_set counters_;
};

}  // namespace portcullis
