// portcullis/detail/redis_scripts.hpp — the Lua source of the Redis store's
// scripts, for benchmarks that run them with redis-benchmark as the ceiling
// of what the store can reach. Private to the Redis backend.
#pragma once

#include "portcullis/rate_limit_store.hpp"

#include <string>
#include <vector>

namespace portcullis::redis::detail {

/// The consume script of algorithm `a`, as the store sends it.
const std::string& consume_script_source(rate_algorithm a);

/// The ARGV the store passes for `policy` and `cost` with Redis's clock
/// (see src/redis/scripts.hpp for their meaning).
std::vector<std::string> consume_script_args(const rate_policy& policy, std::uint64_t cost);

}  // namespace portcullis::redis::detail
