// The payloads and schemas of the validation benchmarks, shared by
// validation_bench.cpp (time) and validation/instructions.cpp (instruction
// counts). The payloads are bench/validation/payloads.json, which the Zod 4
// run (node/bench.mjs) reads too; its schemas are written out there again.
#pragma once

#include "portcullis/schema.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

namespace validation_bench {

using portcullis::schema;
using json = nlohmann::json;

inline const json& payloads() {
  static const json p = [] {
    std::ifstream in(PORTCULLIS_BENCH_PAYLOADS);
    if (!in) throw std::runtime_error("cannot open " PORTCULLIS_BENCH_PAYLOADS);
    return json::parse(in);
  }();
  return p;
}

// The same schemas as bench.mjs, written with portcullis.
inline const std::map<std::string, schema>& schemas() {
  static const std::map<std::string, schema> s = {
      {"user", schema::object({
                   {"email", schema::string().email().max(255)},
                   {"password", schema::string().min(12).max(128)},
                   {"name", schema::string().min(1).max(100).optional()},
               })},
      {"five", schema::object({
                   {"id", schema::integer().min(1)},
                   {"name", schema::string().min(1).max(100)},
                   {"email", schema::string().email()},
                   {"age", schema::integer().min(0).max(150)},
                   {"active", schema::boolean()},
               })},
      {"order",
       schema::object({
           {"customer", schema::string().email()},
           {"note", schema::string().max(500).optional()},
           {"items", schema::array(schema::object({
                                       {"sku", schema::string().regex("[A-Z]{3}-[0-9]{1,6}")},
                                       {"qty", schema::integer().min(1).max(1000)},
                                       {"price", schema::number().nonnegative()},
                                   }))
                         .min(1)
                         .max(100)},
       })},
      {"items", schema::object({
                    {"page", schema::integer().min(1).default_value(1)},
                    {"limit", schema::integer().min(1).max(100).default_value(20)},
                    {"sort", schema::enumeration({"asc", "desc"}).optional()},
                    {"q", schema::string().max(100).optional()},
                })},
  };
  return s;
}

}  // namespace validation_bench
