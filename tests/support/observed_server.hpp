// The reference server (examples/secure_api) as a process whose log lines,
// counters, open file descriptors and resident memory a test can watch:
//
//     test::observed_server srv{{{"stores", {{"rate_limit", "redis"}, ...}}}};
//     auto before = srv.counter("portcullis_rate_limit_store_errors_total", "api");
//     ...
//     EXPECT_EQ(srv.log_count("rate_limit.store_error"), 1u);
//     EXPECT_LE(srv.open_fds(), baseline + 2);
//
// The server's stderr (its JSON log lines) goes to a file of its own; the
// counters are read from GET /metrics over HTTP, as Prometheus would.
// log_level defaults to "warning" (reference_server.hpp).
#pragma once

#include "support/reference_server.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

namespace portcullis::test {

class observed_server {
 public:
  explicit observed_server(const nlohmann::json& config) {
    char tmpl[] = "/tmp/portcullis-log-XXXXXX";
    const int fd = mkstemp(tmpl);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    log_path_ = tmpl;

    // The child inherits file descriptor 2 at fork: point it at the log
    // file for the moment of the start, then give this process its own back.
    const int saved = dup(2);
    dup2(fd, 2);
    close(fd);
    try {
      server_ = std::make_unique<reference_server>(config.dump());
    } catch (...) {
      dup2(saved, 2);
      close(saved);
      throw;
    }
    dup2(saved, 2);
    close(saved);
  }
  ~observed_server() {
    // A server that did not end cleanly (it died, or a sanitizer reported
    // something) shows its log here: the file goes with this object.
    if (const int status = server_->stop(); status != 0)
      ADD_FAILURE() << "the reference server exited with status " << status << "; its log:\n"
                    << log();
    server_.reset();
    std::error_code ec;
    std::filesystem::remove(log_path_, ec);
  }
  observed_server(const observed_server&) = delete;
  observed_server& operator=(const observed_server&) = delete;

  reference_server& server() { return *server_; }
  unsigned short port() const { return server_->port(); }

  /// SIGTERM and wait; the exit status (0 after a clean drain).
  int stop() { return server_->stop(); }

  /// Everything the server logged so far.
  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  /// How many log lines carry `"event":"<event>"`.
  std::size_t log_count(std::string_view event) const {
    const std::string needle = "\"event\":\"" + std::string(event) + "\"";
    const std::string text = log();
    std::size_t n = 0;
    for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
    return n;
  }

  /// The lines at warning level or above.
  std::string warnings() const {
    std::string out, line;
    std::istringstream in(log());
    while (std::getline(in, line))
      if (line.find("\"level\":\"warning\"") != std::string::npos ||
          line.find("\"level\":\"error\"") != std::string::npos)
        out += line + "\n";
    return out;
  }

  /// The value of counter `metric` for instance `name` in GET /metrics
  /// (0 when the sample is absent; a failure when /metrics does not answer).
  std::uint64_t counter(std::string_view metric, std::string_view name) {
    const auto res = server_->request(beast_http::verb::get, "/metrics");
    EXPECT_EQ(res.result_int(), 200u) << res.body();
    const std::string sample = std::string(metric) + "{name=\"" + std::string(name) + "\"} ";
    const auto& body = res.body();
    for (auto p = body.find(sample); p != std::string::npos; p = body.find(sample, p + 1))
      if (p == 0 || body[p - 1] == '\n') return std::stoull(body.substr(p + sample.size()));
    return 0;
  }

  /// Open file descriptors of the server process (/proc/PID/fd).
  std::size_t open_fds() const {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(
             "/proc/" + std::to_string(server_->pid()) + "/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
      ++n;
    return n;
  }

  /// Waits up to `within` for open_fds() to come down to `at_most`; the last count.
  std::size_t settle_fds(std::size_t at_most,
                         std::chrono::milliseconds within = std::chrono::seconds(3)) const {
    const auto until = std::chrono::steady_clock::now() + within;
    std::size_t n = open_fds();
    while (n > at_most && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      n = open_fds();
    }
    return n;
  }

  /// Resident memory of the server process in KiB (VmRSS in /proc/PID/status).
  std::uint64_t rss_kib() const {
    std::ifstream in("/proc/" + std::to_string(server_->pid()) + "/status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
    return 0;
  }

 private:
  std::string log_path_;
  std::unique_ptr<reference_server> server_;
};

}  // namespace portcullis::test
