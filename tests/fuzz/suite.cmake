# Fuzz targets. Each target is one source file, tests/fuzz/<name>_fuzz.cpp,
# defining LLVMFuzzerTestOneInput, and a seed corpus in
# tests/fuzz/corpus/<name>/ (every finding is added there as a regression).
#
# - Always (any compiler), fuzz_replay_<name> runs every corpus file once
#   through the same entry point, as a ctest test labelled "fuzz".
# - With PORTCULLIS_BUILD_FUZZ=ON (clang; see the top-level CMakeLists,
#   which instruments the library as well), fuzz_<name> is a libFuzzer
#   binary. scripts/fuzz builds and runs them; docs/fuzzing.md.
set(_fuzz_dir "${CMAKE_CURRENT_LIST_DIR}")

function(portcullis_fuzz_target name)
  set(_source "${_fuzz_dir}/${name}_fuzz.cpp")
  add_executable(fuzz_replay_${name} "${_source}" "${_fuzz_dir}/replay_main.cpp")
  target_link_libraries(fuzz_replay_${name} PRIVATE portcullis)
  target_include_directories(fuzz_replay_${name} PRIVATE "${_fuzz_dir}/..")
  add_test(NAME fuzz_replay_${name} COMMAND fuzz_replay_${name} "${_fuzz_dir}/corpus/${name}")
  set_tests_properties(fuzz_replay_${name} PROPERTIES LABELS fuzz)

  if(PORTCULLIS_BUILD_FUZZ)
    add_executable(fuzz_${name} "${_source}")
    target_link_libraries(fuzz_${name} PRIVATE portcullis)
    target_include_directories(fuzz_${name} PRIVATE "${_fuzz_dir}/..")
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  endif()
endfunction()

# Every parser and decision that takes client bytes.
portcullis_fuzz_target(request_parser)
portcullis_fuzz_target(client_address)
portcullis_fuzz_target(cors_origin)
portcullis_fuzz_target(query_string)
portcullis_fuzz_target(json_schema)
portcullis_fuzz_target(html_sanitizer)
portcullis_fuzz_target(api_key)
portcullis_fuzz_target(multipart)
portcullis_fuzz_target(content_coding)
portcullis_fuzz_target(class_sequence)
