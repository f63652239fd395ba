# CORS in a real browser, on the reference server: cors.test.js starts
# examples/secure_api twice (with and without credentials) and calls it from
# chromium pages on allowed, pattern-matched and other loopback origins.
# (examples/ is added after tests/, so the target is named, not tested for.)
if(NOT PORTCULLIS_BUILD_EXAMPLES)
  message(STATUS "portcullis: examples are off; browser.cors is not registered")
  return()
endif()
portcullis_add_browser_test(cors cors.test.js ARGS "$<TARGET_FILE:secure_api>")
