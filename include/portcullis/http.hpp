// portcullis/http.hpp — the message types and the JSON error responses.
//
// portcullis uses Beast's own string-body messages, so a handler written
// for Beast needs no adapter:
//
//     portcullis::response r = portcullis::json_response(
//         req, http::status::ok, R"({"status":"ok"})");
//
// Every error that portcullis answers on its own is JSON with
// `Content-Type: application/json` and the shape `{"error": "..."}`,
// optionally with `details`. A chain can instead answer with RFC 9457
// `application/problem+json` (see `error_format`).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json_fwd.hpp>

#include <string_view>

namespace portcullis {

namespace http = boost::beast::http;
namespace asio = boost::asio;

/// A request with its whole body read into a string.
using request = http::request<http::string_body>;
/// A response with a string body.
using response = http::response<http::string_body>;

/// How portcullis writes the errors it answers itself.
enum class error_format {
  /// `{"error": "...", "details": ...}` as `application/json` (the default).
  json,
  /// RFC 9457 problem details, `application/problem+json`:
  /// `{"type":"about:blank","title":"...","status":N,"detail":"...", ...}`.
  problem_json,
};

/// A response with a JSON body. `body` must already be JSON. The response
/// takes the request's HTTP version and keep-alive.
response json_response(const request& req, http::status status, std::string body);

/// An error response: `{"error": message}`, or problem details when
/// `format` says so. `message` is escaped; invalid UTF-8 in it is replaced.
/// `details`, when given, is added as `details` (or as a problem extension
/// member of that name).
response error_response(const request& req, http::status status, std::string_view message,
                        error_format format = error_format::json,
                        const nlohmann::json* details = nullptr);

}  // namespace portcullis
