// portcullis/errc.hpp — the library's error codes.
//
// A denial (429, 401, 403 …) is a value, not an error. These codes are for
// misconfiguration and for backends that fail. Each has a message, and the
// category is `portcullis`:
//
//     std::error_code ec = portcullis::errc::store_timeout;
//     ec.message();  // "the store did not answer within its timeout"
//
// `config_error` is what every middleware throws when it is built with an
// option it cannot honour; its what() names the option and says what to do.
#pragma once

#include <string>
#include <system_error>

namespace portcullis {

enum class errc {
  /// An option is invalid; the message names it. Thrown when building.
  invalid_config = 1,
  /// A store could not be reached (connection refused, lost, not ready).
  store_unavailable,
  /// A store did not answer within its call timeout.
  store_timeout,
  /// A store answered something the client cannot interpret.
  store_protocol,
  /// A text that should be an IP address or CIDR network is not one.
  invalid_address,
  /// The request header is larger than the header limit (431).
  header_too_large,
  /// The declared or received body is larger than the body limit (413).
  body_too_large,
  /// The request's framing is ambiguous or invalid (400).
  bad_framing,
  /// A deadline passed before the operation completed.
  timeout,
  /// An API key is malformed or its checksum does not match.
  malformed_key,
  /// The operation was cancelled.
  cancelled,
  /// Input could not be parsed (JSON, query string, header value).
  parse_error,
};

/// The category of `errc`; its name is "portcullis".
const std::error_category& portcullis_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), portcullis_category()};
}

/// Thrown when a middleware or store is built with options it cannot honour.
/// The code is `errc::invalid_config`; what() is "<component>: <what is
/// wrong>; <what to do>".
class config_error : public std::system_error {
 public:
  explicit config_error(const std::string& what)
      : std::system_error(make_error_code(errc::invalid_config), what), what_(what) {}
  /// The message alone, without the category's text appended.
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

}  // namespace portcullis

template <>
struct std::is_error_code_enum<portcullis::errc> : std::true_type {};
