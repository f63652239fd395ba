// portcullis/counters.hpp — the fixed, named counters of each middleware.
//
// Every middleware declares its counters once, by name, when it is built
// (`allowed`, `limited`, `store_errors` …). The request path bumps them by
// index (one relaxed atomic add); tests read them by name; an exporter
// publishes them in the Prometheus text format:
//
//     counter_set c{"rate_limit", "api", {"allowed", "limited"}};
//     c.add(1);                 // limited
//     c.value("limited");       // 1
//     write_prometheus(out, {&c});
//     // # TYPE portcullis_rate_limit_limited_total counter
//     // portcullis_rate_limit_limited_total{name="api"} 1
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis {

/// A fixed list of named counters that belongs to one middleware instance.
class counter_set {
 public:
  /// `subsystem` is the middleware kind ("rate_limit"), `instance` the name
  /// of this instance ("login"), `names` the counters in index order. Names
  /// must be lower-case [a-z0-9_] and unique (throws config_error).
  counter_set(std::string_view subsystem, std::string_view instance,
              std::initializer_list<std::string_view> names);

  counter_set(const counter_set&) = delete;
  counter_set& operator=(const counter_set&) = delete;

  /// Adds `n` to the counter at `index` (its position in `names`).
  void add(std::size_t index, std::uint64_t n = 1) noexcept {
    cells_[index].value.fetch_add(n, std::memory_order_relaxed);
  }

  /// The value of the counter at `index`.
  std::uint64_t value(std::size_t index) const noexcept {
    return cells_[index].value.load(std::memory_order_relaxed);
  }

  /// The value of the counter named `name`; throws std::out_of_range for a
  /// name this set does not declare.
  std::uint64_t value(std::string_view name) const;

  const std::string& subsystem() const noexcept { return subsystem_; }
  const std::string& instance() const noexcept { return instance_; }
  std::span<const std::string> names() const noexcept { return names_; }

 private:
  struct alignas(64) cell {
    std::atomic<std::uint64_t> value{0};
  };
  std::string subsystem_;
  std::string instance_;
  std::vector<std::string> names_;
  std::unique_ptr<cell[]> cells_;
};

/// Appends the counters in the Prometheus text exposition format (0.0.4):
/// `portcullis_<subsystem>_<name>_total{name="<instance>"} <value>`, with
/// one `# TYPE` line per metric name.
void write_prometheus(std::string& out, std::span<const counter_set* const> sets);

}  // namespace portcullis
