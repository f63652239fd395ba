// The reference server's chain: every route and every middleware, built
// from the configuration. Kept apart from main() so that tests can build the
// same application and drive it in-process.
#pragma once

#include "config.hpp"
#include "users.hpp"

#include <portcullis/api_key_store.hpp>
#include <portcullis/chain.hpp>
#include <portcullis/counters.hpp>
#include <portcullis/log.hpp>
#include <portcullis/rate_limit_store.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <mutex>
#include <vector>

namespace portcullis {
class memory_rate_limit_store;
}  // namespace portcullis

namespace secure_api {

/// The counters /metrics publishes. Filled once the chain and the server
/// exist, read by the /metrics handler.
class metrics_registry {
 public:
  void add(const portcullis::counter_set* set);
  void add(const std::vector<const portcullis::counter_set*>& sets);
  /// Publishes the memory store's size and bound as gauges
  /// (portcullis_memory_store_keys, _capacity) and its evictions and
  /// expired removals as counters, labelled name="rate_limit".
  void add(const portcullis::memory_rate_limit_store* store);
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::vector<const portcullis::counter_set*> sets_;
  const portcullis::memory_rate_limit_store* memory_store_ = nullptr;
};

/// What the application's handlers share. Lives as long as the server.
struct services {
  /// `io`: where the Redis store runs its connections (the server's own
  /// io_context, so that a request never changes threads to ask Redis);
  /// empty for a thread of the store's own.
  services(const config& c, const portcullis::clock& clk, portcullis::logger log,
           const boost::asio::any_io_executor& io = {});

  config settings;
  const portcullis::clock& clock;
  portcullis::logger log;
  user_store users;
  metrics_registry metrics;
  /// Where the rate limiters count: in memory, or Redis (stores.rate_limit).
  std::shared_ptr<portcullis::rate_limit_store> rate_store;
  /// Where API keys are kept: in memory, or PostgreSQL (stores.api_keys).
  std::shared_ptr<portcullis::api_key_store> key_store;
};

/// Builds the whole application. Throws portcullis::config_error (or
/// std::runtime_error) when the configuration cannot be honoured.
portcullis::chain build_app(services& s);

}  // namespace secure_api
