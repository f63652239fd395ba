# FindGumbo: finds Gumbo through pkg-config (Debian ships no CMake package for it)
# and defines the imported target portcullis::gumbo.
include(FindPackageHandleStandardArgs)
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_Gumbo QUIET gumbo)
endif()
find_path(Gumbo_INCLUDE_DIR NAMES gumbo.h HINTS ${PC_Gumbo_INCLUDE_DIRS})
find_library(Gumbo_LIBRARY NAMES gumbo HINTS ${PC_Gumbo_LIBRARY_DIRS})
find_package_handle_standard_args(Gumbo REQUIRED_VARS Gumbo_LIBRARY Gumbo_INCLUDE_DIR
  VERSION_VAR PC_Gumbo_VERSION)
if(Gumbo_FOUND AND NOT TARGET portcullis::gumbo)
  add_library(portcullis::gumbo UNKNOWN IMPORTED)
  set_target_properties(portcullis::gumbo PROPERTIES
    IMPORTED_LOCATION "${Gumbo_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Gumbo_INCLUDE_DIR}")
endif()
mark_as_advanced(Gumbo_INCLUDE_DIR Gumbo_LIBRARY)
