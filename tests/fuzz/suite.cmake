# Fuzz targets. Each target is one source file defining LLVMFuzzerTestOneInput
# and a seed corpus in tests/fuzz/corpus/<name>/.
#
# - With PORTCULLIS_BUILD_FUZZ=ON and clang, fuzz_<name> is a libFuzzer
#   binary (ASan + UBSan): ./build/tests/fuzz_query_string tests/fuzz/corpus/query_string
# - Always (any compiler), fuzz_replay_<name> runs every corpus file once
#   through the same entry point, as a ctest test labelled "fuzz".
set(_fuzz_dir "${CMAKE_CURRENT_LIST_DIR}")

function(portcullis_fuzz_target name)
  add_executable(fuzz_replay_${name} "${_fuzz_dir}/${name}_fuzz.cpp" "${_fuzz_dir}/replay_main.cpp")
  target_link_libraries(fuzz_replay_${name} PRIVATE portcullis)
  add_test(NAME fuzz_replay_${name}
           COMMAND fuzz_replay_${name} "${_fuzz_dir}/corpus/${name}")
  set_tests_properties(fuzz_replay_${name} PROPERTIES LABELS fuzz)

  if(PORTCULLIS_BUILD_FUZZ)
    if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
      message(FATAL_ERROR "PORTCULLIS_BUILD_FUZZ needs clang (libFuzzer); configure with "
                          "-DCMAKE_CXX_COMPILER=clang++")
    endif()
    add_executable(fuzz_${name} "${_fuzz_dir}/${name}_fuzz.cpp")
    target_link_libraries(fuzz_${name} PRIVATE portcullis)
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  endif()
endfunction()

portcullis_fuzz_target(query_string)
portcullis_fuzz_target(json_schema)
