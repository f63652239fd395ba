// portcullis/log.hpp — where the library's log lines go.
//
// portcullis never prints. It hands a level, an event name and key/value
// fields to a `log_sink` that the user plugs in; the default sink writes one
// JSON object per line to stderr:
//
//     {"level":"warning","event":"rate_limit.store_error","limiter":"api",...}
//
// Per-request lines are debug level and cost one branch when debug is off
// (`logger::enabled`). Repeated warnings go through a `log_throttle`, which
// lets one line through per interval and reports how many it held back.
// Secrets never reach a sink: log `fingerprint(secret)` instead, and pass
// header values through `redact_header`.
#pragma once

#include "portcullis/clock.hpp"

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace portcullis {

enum class log_level : std::uint8_t { debug, info, warning, error, off };

/// The lower-case name of a level ("debug", "info", "warning", "error").
std::string_view to_string(log_level level) noexcept;

/// One key/value pair of a log line. Values are strings, integers, doubles
/// or booleans; string values are copied by the sink if it keeps them.
struct log_field {
  using value_type = std::variant<std::string_view, std::int64_t, double, bool>;

  template <typename S>
  requires std::is_convertible_v<const S&, std::string_view> log_field(std::string_view k,
                                                                       const S& v)
      : key(k), value(std::string_view(v)) {}
  template <typename B>
  requires std::is_same_v<B, bool> log_field(std::string_view k, B v) : key(k), value(v) {}
  template <typename F>
  requires std::is_floating_point_v<F> log_field(std::string_view k, F v)
      : key(k), value(static_cast<double>(v)) {}
  template <typename I>
  requires(std::is_integral_v<I> && !std::is_same_v<I, bool>) log_field(std::string_view k, I v)
      : key(k), value(static_cast<std::int64_t>(v)) {}

  std::string_view key;
  value_type value;
};

/// Receives log lines. Implement it to route portcullis's lines into your
/// own logging. `write` may be called from many threads at once.
class log_sink {
 public:
  virtual ~log_sink() = default;
  virtual void write(log_level level, std::string_view event,
                     std::span<const log_field> fields) = 0;
};

/// Writes each line as one JSON object to a file descriptor (stderr by
/// default), with a `time` field in RFC 3339 UTC. Lines from different
/// threads never interleave.
class json_lines_sink final : public log_sink {
 public:
  explicit json_lines_sink(int fd = 2, const clock& clk = system_clock());
  void write(log_level level, std::string_view event, std::span<const log_field> fields) override;

  /// The line `write` would emit, without the trailing newline and time
  /// (for tests and for sinks that wrap this one).
  static std::string format(log_level level, std::string_view event,
                            std::span<const log_field> fields);

 private:
  int fd_;
  const clock& clock_;
  std::mutex mutex_;
};

/// A sink that drops everything.
class null_sink final : public log_sink {
 public:
  void write(log_level, std::string_view, std::span<const log_field>) override {}
};

/// A sink plus a minimum level. Cheap to copy; shared by the middleware.
class logger {
 public:
  /// JSON lines on stderr at `info` and above.
  logger();
  logger(std::shared_ptr<log_sink> sink, log_level min_level);

  /// True when a line at `level` would be written. One comparison.
  bool enabled(log_level level) const noexcept { return level >= min_level_; }

  void log(log_level level, std::string_view event, std::initializer_list<log_field> fields) const;
  void log(log_level level, std::string_view event, std::span<const log_field> fields) const;

  log_level min_level() const noexcept { return min_level_; }
  const std::shared_ptr<log_sink>& sink() const noexcept { return sink_; }

 private:
  std::shared_ptr<log_sink> sink_;
  log_level min_level_;
};

/// Lets one line through per interval; counts what it held back. Use one
/// throttle per kind of repeated warning (one per store error, say).
class log_throttle {
 public:
  explicit log_throttle(std::chrono::nanoseconds interval = std::chrono::seconds(10))
      : interval_(interval) {}

  /// True when a line may be written now. When it returns true, and lines
  /// were held back since the last one, `suppressed` is set to their number
  /// (otherwise to 0), so the line can say "and N more".
  bool allow(const clock& clk, std::uint64_t& suppressed) noexcept;

 private:
  std::chrono::nanoseconds interval_;
  std::atomic<std::int64_t> next_{std::numeric_limits<std::int64_t>::min()};
  std::atomic<std::uint64_t> held_{0};
};

/// A short, stable, non-reversible name for a secret: "fp:" and the first
/// 12 hex digits of its SHA-256. Enough to correlate log lines, useless to
/// an attacker who reads the log.
std::string fingerprint(std::string_view secret);

/// True for header names whose values are secrets (Authorization,
/// Proxy-Authorization, Cookie, Set-Cookie, X-API-Key), case-insensitive.
bool is_sensitive_header(std::string_view name) noexcept;

/// The value to log for a header: its fingerprint when the header is
/// sensitive, the value itself otherwise.
std::string redact_header(std::string_view name, std::string_view value);

}  // namespace portcullis
