# The cors middleware in a real browser: cors_server is a portcullis::server
# allowing one origin; cors.test.js calls it from chromium pages on an
# allowed and on another loopback origin.
if(NOT EXISTS "${PROJECT_SOURCE_DIR}/include/portcullis/server.hpp")
  # portcullis::server lands separately; until then there is nothing to serve with.
  message(STATUS "portcullis: no server.hpp yet; browser.cors is not registered")
  return()
endif()
add_executable(cors_server "${CMAKE_CURRENT_LIST_DIR}/cors_server.cpp")
target_link_libraries(cors_server PRIVATE portcullis)
portcullis_add_browser_test(cors cors.test.js ARGS "$<TARGET_FILE:cors_server>")
