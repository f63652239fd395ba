# Finds what portcullis links against. Used both by the build and by the
# installed package config, so that find_package(portcullis) works from an
# install tree: Debian ships only pkg-config files for RE2, gumbo, libpqxx
# and utf8proc, and no imported target for hiredis 0.14.
include(CMakeFindDependencyMacro)
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_dependency(Threads)
find_dependency(Boost 1.81 CONFIG COMPONENTS url)
find_dependency(nlohmann_json 3)
find_dependency(OpenSSL)
find_dependency(RE2)
find_dependency(Gumbo)
find_dependency(Utf8proc)
find_dependency(ZLIB)  # content_encoding decompresses request bodies
if(PORTCULLIS_WITH_REDIS OR portcullis_redis_wanted)
  find_dependency(Hiredis)
endif()
if(PORTCULLIS_WITH_POSTGRES OR portcullis_postgres_wanted)
  find_dependency(PQXX)
endif()
