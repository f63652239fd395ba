#include "portcullis/log.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <mutex>
#include <vector>

namespace portcullis {
namespace {

struct capture_sink final : log_sink {
  void write(log_level level, std::string_view event, std::span<const log_field> fields) override {
    std::lock_guard lock(m);
    lines.push_back(json_lines_sink::format(level, event, fields));
  }
  std::mutex m;
  std::vector<std::string> lines;
};

TEST(log, json_lines_are_valid_json_whatever_the_input) {
  std::string hostile = "a\"b\\c\n\x01\xff\xc0\xafz";
  log_field fields[] = {{"text", hostile}, {"n", 42}, {"ok", true}, {"ratio", 0.5}};
  auto line = json_lines_sink::format(log_level::warning, "x.y", fields);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "warning");
  EXPECT_EQ(j["event"], "x.y");
  EXPECT_EQ(j["n"], 42);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["ratio"], 0.5);
  EXPECT_EQ(j["text"], "a\"b\\c\n\x01\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz");
}

TEST(log, sink_writes_one_line_with_a_time) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  manual_clock clk;
  json_lines_sink sink{fds[1], clk};
  logger l{std::shared_ptr<log_sink>(&sink, [](log_sink*) {}), log_level::info};
  l.log(log_level::debug, "hidden", {});
  l.log(log_level::info, "shown", {{"k", "v"}});
  close(fds[1]);
  char buf[512];
  auto n = read(fds[0], buf, sizeof buf);
  close(fds[0]);
  std::string out(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  EXPECT_EQ(
      out,
      "{\"time\":\"2026-01-02T00:00:00Z\",\"level\":\"info\",\"event\":\"shown\",\"k\":\"v\"}\n");
}

TEST(log, levels_filter_cheaply) {
  auto sink = std::make_shared<capture_sink>();
  logger l{sink, log_level::warning};
  EXPECT_FALSE(l.enabled(log_level::debug));
  EXPECT_FALSE(l.enabled(log_level::info));
  EXPECT_TRUE(l.enabled(log_level::error));
  l.log(log_level::info, "no", {});
  l.log(log_level::error, "yes", {});
  ASSERT_EQ(sink->lines.size(), 1u);
  EXPECT_NE(sink->lines[0].find("\"yes\""), std::string::npos);
}

TEST(log, throttle_lets_one_line_through_per_interval) {
  manual_clock clk;
  log_throttle t{std::chrono::seconds(10)};
  std::uint64_t held = 99;
  EXPECT_TRUE(t.allow(clk, held));
  EXPECT_EQ(held, 0u);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(t.allow(clk, held));
  clk.advance(std::chrono::seconds(9));
  EXPECT_FALSE(t.allow(clk, held));
  clk.advance(std::chrono::seconds(1));
  EXPECT_TRUE(t.allow(clk, held));
  EXPECT_EQ(held, 6u);  // and 6 more since the last line
}

TEST(log, secrets_become_fingerprints) {
  const std::string key = "sk_live_abcdefghijklmnopqrstuvwxyz012345";
  auto fp = fingerprint(key);
  EXPECT_EQ(fp.size(), 15u);
  EXPECT_EQ(fp.rfind("fp:", 0), 0u);
  EXPECT_EQ(fp, fingerprint(key));
  EXPECT_NE(fp, fingerprint(key + "x"));
  for (auto name : {"Authorization", "authorization", "COOKIE", "Set-Cookie", "X-API-Key",
                    "Proxy-Authorization"}) {
    EXPECT_TRUE(is_sensitive_header(name)) << name;
    EXPECT_EQ(redact_header(name, key), fp) << name;
  }
  EXPECT_EQ(redact_header("User-Agent", "curl/8"), "curl/8");

  // Through a sink: the line never holds the key.
  auto sink = std::make_shared<capture_sink>();
  logger l{sink, log_level::debug};
  auto redacted = redact_header("Authorization", "Bearer " + key);
  l.log(log_level::debug, "request", {{"authorization", redacted}});
  ASSERT_EQ(sink->lines.size(), 1u);
  EXPECT_EQ(sink->lines[0].find(key), std::string::npos);
  EXPECT_EQ(sink->lines[0].find("abcdefgh"), std::string::npos);
}

}  // namespace
}  // namespace portcullis
