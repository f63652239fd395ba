# The HTML sanitizer in a real browser: sanitize_payloads writes the
# sanitized XSS cases; html_sanitizer.test.js inserts them into chromium.
add_executable(sanitize_payloads "${CMAKE_CURRENT_LIST_DIR}/sanitize_payloads.cpp")
target_link_libraries(sanitize_payloads PRIVATE portcullis)
target_include_directories(sanitize_payloads PRIVATE "${CMAKE_CURRENT_LIST_DIR}/..")
portcullis_add_browser_test(html_sanitizer html_sanitizer.test.js
  ARGS "$<TARGET_FILE:sanitize_payloads>" "${PORTCULLIS_CASES_DIR}/xss/dompurify_vectors.json"
       "${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/html_sanitizer")
