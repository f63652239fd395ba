# The install tree works for a consumer project (find_package and pkg-config).
add_test(NAME install.consumer_builds_against_install_tree
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/run.sh ${PROJECT_BINARY_DIR})
set_tests_properties(install.consumer_builds_against_install_tree PROPERTIES
  LABELS install TIMEOUT 300)
