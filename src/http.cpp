#include "portcullis/http.hpp"

#include <nlohmann/json.hpp>

namespace portcullis {

response json_response(const request& req, http::status status, std::string body) {
  response res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

response error_response(const request& req, http::status status, std::string_view message,
                        error_format format, const nlohmann::json* details) {
  nlohmann::json body;
  std::string_view type = "application/json";
  if (format == error_format::problem_json) {
    // RFC 9457 §3.1: "about:blank" says the status code is the whole story;
    // title is then the reason phrase and detail our message.
    body["type"] = "about:blank";
    body["title"] = std::string(http::obsolete_reason(status));
    body["status"] = static_cast<unsigned>(status);
    body["detail"] = std::string(message);
    type = "application/problem+json";
  } else {
    body["error"] = std::string(message);
  }
  if (details != nullptr) body["details"] = *details;

  response res{status, req.version()};
  res.set(http::field::content_type, type);
  res.keep_alive(req.keep_alive());
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

}  // namespace portcullis
