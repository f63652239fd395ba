// Loading ../shared/cases in tests. A test that loads a file names every
// case id it knows; a case in the file that the test does not know, or a
// known one missing from the file, fails the test, so that new cases are
// never skipped silently.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <string>

namespace portcullis::test {

inline nlohmann::json load_cases(const std::string& relative) {
  std::ifstream in(std::string(PORTCULLIS_CASES_DIR) + "/" + relative);
  if (!in) {
    ADD_FAILURE() << "cannot open case file " << PORTCULLIS_CASES_DIR << "/" << relative;
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(in);
}

/// Checks that the ids in `cases` are exactly `known`.
inline void expect_case_ids(const nlohmann::json& cases, const std::set<std::string>& known) {
  std::set<std::string> seen;
  for (const auto& c : cases) seen.insert(c.at("id").get<std::string>());
  for (const auto& id : seen)
    EXPECT_TRUE(known.count(id)) << "case '" << id << "' is new: handle it in this test";
  for (const auto& id : known)
    EXPECT_TRUE(seen.count(id)) << "case '" << id << "' is gone from the case file";
}

}  // namespace portcullis::test
