// The services that scripts/test (and scripts/check) start and export, as
// seen from a test:
//
//     TEST(redis, something) {
//       PORTCULLIS_SERVICE_OR_SKIP(url, "PORTCULLIS_REDIS_URL");
//       ...                               // url is the exported value
//     }
//
// One header for every support file that needs them, so that a test can
// include several support headers at once.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace portcullis::test {

/// The value of a service variable (PORTCULLIS_REDIS_URL ...), or nothing.
inline std::optional<std::string> service_env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

/// True when CI demands every service (a missing one is then a failure).
inline bool services_required() {
  const char* v = std::getenv("PORTCULLIS_REQUIRE_SERVICES");
  return v != nullptr && std::string(v) == "1";
}

/// In a test body: `var` gets the value of `name`, or the test is skipped
/// (failed when PORTCULLIS_REQUIRE_SERVICES=1).
#define PORTCULLIS_SERVICE_OR_SKIP(var, name)                                  \
  auto var##_opt = ::portcullis::test::service_env(name);                      \
  if (!var##_opt) {                                                            \
    if (::portcullis::test::services_required()) FAIL() << name " is not set"; \
    GTEST_SKIP() << name " is not set (scripts/test starts the services)";     \
  }                                                                            \
  const std::string var = *var##_opt

}  // namespace portcullis::test
