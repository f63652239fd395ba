// Runs one case of validation_bench a given number of times, for counting
// its instructions under callgrind, which gives the same count on every
// run however loaded the machine is (time does not):
//
//   validation_instructions MODE PAYLOAD N
//
// MODE is parse, validate (the parsed value, in place) or parse_validate;
// PAYLOAD is user, five or order. bench/validation/instructions runs it
// with N and with 0 and prints the difference per iteration.
#include "schemas.hpp"

#include "portcullis/json_body.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: validation_instructions parse|validate|parse_validate PAYLOAD N\n";
    return 2;
  }
  const std::string mode = argv[1], key = argv[2];
  const long n = std::atol(argv[3]);
  const auto& s = validation_bench::schemas().at(key);
  const std::string text = validation_bench::payloads().at(key).dump();
  nlohmann::json value = validation_bench::payloads().at(key);

  // Counted, so that no iteration can be optimised away.
  long valid = 0;
  for (long i = 0; i < n; ++i) {
    if (mode == "parse") {
      valid += portcullis::parse_json(text).ok();
    } else if (mode == "validate") {
      valid += s.validate_in_place(value).empty();
    } else if (mode == "parse_validate") {
      auto parsed = portcullis::parse_json(text);
      valid += s.validate(std::move(parsed.value)).ok();
    } else {
      std::cerr << "unknown mode " << mode << "\n";
      return 2;
    }
  }
  if (valid != n) {
    std::cerr << "a payload did not validate\n";
    return 1;
  }
  return 0;
}
