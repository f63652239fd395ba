# FindHiredis: finds Hiredis through pkg-config (Debian ships no CMake package for it)
# and defines the imported target portcullis::hiredis.
include(FindPackageHandleStandardArgs)
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_Hiredis QUIET hiredis)
endif()
find_path(Hiredis_INCLUDE_DIR NAMES hiredis/hiredis.h HINTS ${PC_Hiredis_INCLUDE_DIRS})
find_library(Hiredis_LIBRARY NAMES hiredis HINTS ${PC_Hiredis_LIBRARY_DIRS})
find_package_handle_standard_args(Hiredis REQUIRED_VARS Hiredis_LIBRARY Hiredis_INCLUDE_DIR
  VERSION_VAR PC_Hiredis_VERSION)
if(Hiredis_FOUND AND NOT TARGET portcullis::hiredis)
  add_library(portcullis::hiredis UNKNOWN IMPORTED)
  set_target_properties(portcullis::hiredis PROPERTIES
    IMPORTED_LOCATION "${Hiredis_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Hiredis_INCLUDE_DIR}")
endif()
mark_as_advanced(Hiredis_INCLUDE_DIR Hiredis_LIBRARY)
