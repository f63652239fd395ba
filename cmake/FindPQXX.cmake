# FindPQXX: finds PQXX through pkg-config (Debian ships no CMake package for it)
# and defines the imported target portcullis::pqxx.
include(FindPackageHandleStandardArgs)
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_PQXX QUIET libpqxx)
endif()
find_path(PQXX_INCLUDE_DIR NAMES pqxx/pqxx HINTS ${PC_PQXX_INCLUDE_DIRS})
find_library(PQXX_LIBRARY NAMES pqxx HINTS ${PC_PQXX_LIBRARY_DIRS})
find_package_handle_standard_args(PQXX REQUIRED_VARS PQXX_LIBRARY PQXX_INCLUDE_DIR
  VERSION_VAR PC_PQXX_VERSION)
if(PQXX_FOUND AND NOT TARGET portcullis::pqxx)
  add_library(portcullis::pqxx UNKNOWN IMPORTED)
  set_target_properties(portcullis::pqxx PROPERTIES
    IMPORTED_LOCATION "${PQXX_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${PQXX_INCLUDE_DIR}")
endif()
mark_as_advanced(PQXX_INCLUDE_DIR PQXX_LIBRARY)
if(PQXX_FOUND)
  find_package(PostgreSQL QUIET)
  find_library(PQXX_PQ_LIBRARY NAMES pq)
  set_property(TARGET portcullis::pqxx APPEND PROPERTY
    INTERFACE_LINK_LIBRARIES "${PQXX_PQ_LIBRARY}")
endif()
