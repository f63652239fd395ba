#include "portcullis/errc.hpp"

namespace portcullis {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "portcullis"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::invalid_config:
        return "invalid configuration";
      case errc::store_unavailable:
        return "the store is unavailable";
      case errc::store_timeout:
        return "the store did not answer within its timeout";
      case errc::store_protocol:
        return "the store answered with an unexpected reply";
      case errc::invalid_address:
        return "not a valid IP address or network";
      case errc::header_too_large:
        return "request header fields too large";
      case errc::body_too_large:
        return "request body too large";
      case errc::bad_framing:
        return "ambiguous or invalid message framing";
      case errc::timeout:
        return "the deadline passed";
      case errc::malformed_key:
        return "malformed API key";
      case errc::cancelled:
        return "the operation was cancelled";
      case errc::parse_error:
        return "the input could not be parsed";
    }
    return "unknown portcullis error";
  }
};

}  // namespace

const std::error_category& portcullis_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace portcullis
