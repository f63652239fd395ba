# FindUtf8proc: finds Utf8proc through pkg-config (Debian ships no CMake package for it)
# and defines the imported target portcullis::utf8proc.
include(FindPackageHandleStandardArgs)
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_Utf8proc QUIET libutf8proc)
endif()
find_path(Utf8proc_INCLUDE_DIR NAMES utf8proc.h HINTS ${PC_Utf8proc_INCLUDE_DIRS})
find_library(Utf8proc_LIBRARY NAMES utf8proc HINTS ${PC_Utf8proc_LIBRARY_DIRS})
find_package_handle_standard_args(Utf8proc REQUIRED_VARS Utf8proc_LIBRARY Utf8proc_INCLUDE_DIR
  VERSION_VAR PC_Utf8proc_VERSION)
if(Utf8proc_FOUND AND NOT TARGET portcullis::utf8proc)
  add_library(portcullis::utf8proc UNKNOWN IMPORTED)
  set_target_properties(portcullis::utf8proc PROPERTIES
    IMPORTED_LOCATION "${Utf8proc_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Utf8proc_INCLUDE_DIR}")
endif()
mark_as_advanced(Utf8proc_INCLUDE_DIR Utf8proc_LIBRARY)
