#include "portcullis/errc.hpp"

#include <gtest/gtest.h>

#include <set>

namespace portcullis {
namespace {

TEST(errc, every_value_has_its_own_message) {
  std::set<std::string> messages;
  for (int v = static_cast<int>(errc::invalid_config); v <= static_cast<int>(errc::parse_error);
       ++v) {
    std::error_code ec = static_cast<errc>(v);
    EXPECT_STREQ(ec.category().name(), "portcullis");
    EXPECT_NE(ec.message(), "unknown portcullis error") << v;
    EXPECT_TRUE(messages.insert(ec.message()).second) << "duplicate message for " << v;
  }
  EXPECT_EQ(std::error_code(errc::store_timeout).message(),
            "the store did not answer within its timeout");
  EXPECT_EQ(std::error_code(errc::body_too_large).message(), "request body too large");
  EXPECT_EQ(portcullis_category().message(999), "unknown portcullis error");
}

TEST(errc, config_error_carries_the_code_and_the_text) {
  config_error e("cors.allowed_origins: '*' cannot be combined with credentials");
  EXPECT_EQ(e.code(), errc::invalid_config);
  EXPECT_NE(std::string(e.what()).find("cannot be combined with credentials"), std::string::npos);
}

}  // namespace
}  // namespace portcullis
