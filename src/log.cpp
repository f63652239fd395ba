#include "portcullis/log.hpp"

#include "portcullis/detail/ascii.hpp"

#include <openssl/sha.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

namespace portcullis {
namespace {

// Appends `s` as a JSON string. Bytes that are not valid UTF-8 become
// U+FFFD, so that a hostile header value cannot break the line's JSON.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }

    // Validate one multi-byte sequence (no overlongs, no surrogates).
    std::size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    bool ok = len != 0 && c >= 0xc2 && c <= 0xf4 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && len == 3) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
    }
    if (ok && len == 4) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  out.push_back('"');
}

void append_field(std::string& out, const log_field& f) {
  out.push_back(',');
  append_json_string(out, f.key);
  out.push_back(':');
  std::visit(
      [&out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          append_json_string(out, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          out += v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          char buf[32];
          int n = std::snprintf(buf, sizeof buf, "%.17g", v);
          out.append(buf, static_cast<std::size_t>(n));
        } else {
          out += std::to_string(v);
        }
      },
      f.value);
}

}  // namespace

std::string_view to_string(log_level level) noexcept {
  switch (level) {
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warning:
      return "warning";
    case log_level::error:
      return "error";
    case log_level::off:
      return "off";
  }
  return "unknown";
}

json_lines_sink::json_lines_sink(int fd, const clock& clk) : fd_(fd), clock_(clk) {}

std::string json_lines_sink::format(log_level level, std::string_view event,
                                    std::span<const log_field> fields) {
  std::string out = "{\"level\":";
  append_json_string(out, to_string(level));
  out += ",\"event\":";
  append_json_string(out, event);
  for (const auto& f : fields) append_field(out, f);
  out.push_back('}');
  return out;
}

void json_lines_sink::write(log_level level, std::string_view event,
                            std::span<const log_field> fields) {
  // The time goes first so that lines sort; it is the only field not in
  // format().
  auto now = std::chrono::system_clock::to_time_t(clock_.wall_now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);

  std::string line = "{\"time\":\"";
  line += stamp;
  line += "\",";
  line += format(level, event, fields).substr(1);
  line.push_back('\n');

  std::lock_guard lock(mutex_);
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a log sink must never take the service down
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

logger::logger() : logger(std::make_shared<json_lines_sink>(), log_level::info) {}

logger::logger(std::shared_ptr<log_sink> sink, log_level min_level)
    : sink_(sink ? std::move(sink) : std::make_shared<null_sink>()), min_level_(min_level) {}

void logger::log(log_level level, std::string_view event,
                 std::initializer_list<log_field> fields) const {
  log(level, event, std::span<const log_field>(fields.begin(), fields.size()));
}

void logger::log(log_level level, std::string_view event, std::span<const log_field> fields) const {
  if (!enabled(level)) return;
  sink_->write(level, event, fields);
}

bool log_throttle::allow(const clock& clk, std::uint64_t& suppressed) noexcept {
  auto now = clk.now().time_since_epoch().count();
  auto next = next_.load(std::memory_order_relaxed);
  if (now >= next &&
      next_.compare_exchange_strong(next, now + interval_.count(), std::memory_order_acq_rel)) {
    suppressed = held_.exchange(0, std::memory_order_acq_rel);
    return true;
  }
  held_.fetch_add(1, std::memory_order_relaxed);
  suppressed = 0;
  return false;
}

std::string fingerprint(std::string_view secret) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "fp:";
  for (int i = 0; i < 6; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

bool is_sensitive_header(std::string_view name) noexcept {
  static constexpr std::string_view sensitive[] = {"authorization", "proxy-authorization", "cookie",
                                                   "set-cookie", "x-api-key"};
  for (auto s : sensitive)
    if (detail::iequals(name, s)) return true;
  return false;
}

std::string redact_header(std::string_view name, std::string_view value) {
  if (is_sensitive_header(name)) return fingerprint(value);
  return std::string(value);
}

}  // namespace portcullis
