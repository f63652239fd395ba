# Real-browser tests: headless Debian chromium driven by playwright-core
# (npm, pinned by package-lock.json; never a browser download). Shared by
# every browser test in this folder:
# - the fixture test browser.npm_ci installs node_modules once per build
#   tree (npm ci into <build>/tests/browser);
# - browser.js launches chromium (PORTCULLIS_CHROMIUM or /usr/bin/chromium)
#   with the project's flags and all network outside loopback blocked;
# - each test lives in its own <name>.cmake here, which calls
#   portcullis_add_browser_test(<name> <script.js> [ARGS …]).
# A test exits 77 (skipped) when chromium is missing, unless
# PORTCULLIS_REQUIRE_SERVICES=1, where it fails instead.
find_program(PORTCULLIS_NODE node)
find_program(PORTCULLIS_NPM npm)
set(PORTCULLIS_BROWSER_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}")
set(PORTCULLIS_BROWSER_BINARY_DIR "${CMAKE_CURRENT_BINARY_DIR}/browser")

if(PORTCULLIS_NODE AND PORTCULLIS_NPM)
  configure_file("${CMAKE_CURRENT_LIST_DIR}/package.json"
                 "${PORTCULLIS_BROWSER_BINARY_DIR}/package.json" COPYONLY)
  configure_file("${CMAKE_CURRENT_LIST_DIR}/package-lock.json"
                 "${PORTCULLIS_BROWSER_BINARY_DIR}/package-lock.json" COPYONLY)
  add_test(NAME browser.npm_ci
           COMMAND "${PORTCULLIS_NPM}" ci --no-audit --no-fund --ignore-scripts
           WORKING_DIRECTORY "${PORTCULLIS_BROWSER_BINARY_DIR}")
  set_tests_properties(browser.npm_ci PROPERTIES
    FIXTURES_SETUP portcullis_browser_modules LABELS browser
    ENVIRONMENT "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
else()
  message(STATUS "portcullis: node or npm not found; browser tests are not registered")
endif()

# portcullis_add_browser_test(<name> <script> [ARGS <arg>…] [DEPENDS <target>…])
function(portcullis_add_browser_test name script)
  cmake_parse_arguments(arg "" "" "ARGS;DEPENDS" ${ARGN})
  if(NOT PORTCULLIS_NODE OR NOT PORTCULLIS_NPM)
    return()
  endif()
  add_test(NAME browser.${name}
           COMMAND "${PORTCULLIS_NODE}" "${PORTCULLIS_BROWSER_SOURCE_DIR}/${script}" ${arg_ARGS})
  set_tests_properties(browser.${name} PROPERTIES
    FIXTURES_REQUIRED portcullis_browser_modules LABELS browser
    SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "NODE_PATH=${PORTCULLIS_BROWSER_BINARY_DIR}/node_modules")
endfunction()

file(GLOB _portcullis_browser_tests CONFIGURE_DEPENDS "${CMAKE_CURRENT_LIST_DIR}/*.cmake")
list(REMOVE_ITEM _portcullis_browser_tests "${CMAKE_CURRENT_LIST_DIR}/suite.cmake")
foreach(_test ${_portcullis_browser_tests})
  include(${_test})
endforeach()
