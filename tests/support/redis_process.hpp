// Throw-away redis-server processes for the tests that need a Redis of
// their own (fault tests stop, restart and slow it down), and a helper for
// the services that scripts/test exports.
//
//     portcullis::test::redis_process r;            // a free loopback port
//     r.cli({"SCRIPT", "FLUSH"});
//     r.kill();  r.start();                          // a crash and a restart
//
// Each server runs in a temporary folder with persistence off, bound to
// 127.0.0.1 only; the destructor stops it and removes the folder.
#pragma once

#include "support/services.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace portcullis::test {

/// A loopback TCP port that was free a moment ago.
inline unsigned short free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

/// A free loopback port for a cluster node: its cluster bus listens 10 000
/// higher, so the port must be at most 55 535 and that one free too.
inline unsigned short free_cluster_port() {
  boost::asio::io_context io;
  const auto loopback = boost::asio::ip::make_address("127.0.0.1");
  static unsigned short next = static_cast<unsigned short>(20000 + getpid() % 30000);
  for (int tries = 0; tries < 1000; ++tries) {
    const unsigned short p = next;
    next = static_cast<unsigned short>(next >= 55000 ? 20000 : next + 7);
    try {
      boost::asio::ip::tcp::acceptor a(io, {loopback, p});
      boost::asio::ip::tcp::acceptor bus(io, {loopback, static_cast<unsigned short>(p + 10000)});
      return p;
    } catch (const std::exception&) {
    }
  }
  ADD_FAILURE() << "no free port pair for a cluster node";
  return 0;
}

/// Runs a program with arguments; returns its standard output (and the
/// exit status in `status`). Arguments are passed as they are, no shell.
inline std::string run_program(const std::vector<std::string>& argv, int* status = nullptr) {
  int out[2];
  if (pipe(out) != 0) return {};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  std::string text;
  if (rc == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
    int st = 0;
    waitpid(pid, &st, 0);
    if (status) *status = st;
  } else if (status) {
    *status = -1;
  }
  close(out[0]);
  return text;
}

class redis_process {
 public:
  /// Starts a server on a free port. `extra` are more redis-server options
  /// ("--cluster-enabled", "yes", ...).
  explicit redis_process(std::vector<std::string> extra = {}, unsigned short port = 0)
      : port_(port != 0 ? port : free_port()), extra_(std::move(extra)) {
    char tmpl[] = "/tmp/portcullis-redis-XXXXXX";
    dir_ = mkdtemp(tmpl);
    start();
  }
  ~redis_process() {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  redis_process(const redis_process&) = delete;
  redis_process& operator=(const redis_process&) = delete;

  /// Starts (or restarts) the server on the same port and waits until it
  /// answers PING (fails the test after 10 s).
  void start() {
    std::vector<std::string> argv = {"redis-server",
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--dir",
                                     dir_,
                                     "--daemonize",
                                     "no",
                                     "--logfile",
                                     dir_ + "/redis.log",
                                     "--cluster-config-file",
                                     "nodes.conf"};
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    // The server gets none of this process's descriptors but 0-2: a server
    // restarted mid-test would otherwise hold the test's sockets open. Its
    // output goes to a file, not to ours: a test that dies (a sanitizer
    // report) would otherwise leave the server holding ctest's pipe, and
    // ctest would wait out the whole test timeout.
    const std::string output = dir_ + "/output.log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    const int rc = posix_spawnp(&pid_, "redis-server", &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ASSERT_EQ(rc, 0) << "cannot start redis-server";
    for (int i = 0; i < 1000; ++i) {
      // A server with a password answers NOAUTH: it is up all the same.
      const auto pong = cli({"PING"});
      if (pong.find("PONG") != std::string::npos || pong.find("NOAUTH") != std::string::npos)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "redis-server on port " << port_ << " did not answer PING";
  }

  /// Stops the server at once (SIGKILL: a crash, nothing flushed).
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = 0;
  }

  /// Suspends / resumes the process (a server that stops answering).
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

  /// redis-cli against this server; its output.
  std::string cli(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(port_)};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_program(argv);
  }

  unsigned short port() const noexcept { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "redis://" + address(); }

 private:
  unsigned short port_;
  std::vector<std::string> extra_;
  std::string dir_;
  pid_t pid_ = 0;
};

/// Three masters, no replicas, all slots assigned, on loopback.
class redis_cluster_process {
 public:
  redis_cluster_process() {
    for (auto& n : nodes_)
      n = std::make_unique<redis_process>(
          std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-node-timeout", "2000"},
          free_cluster_port());
    std::vector<std::string> argv = {"redis-cli", "--cluster", "create"};
    for (auto& n : nodes_) argv.push_back(n->address());
    argv.insert(argv.end(), {"--cluster-replicas", "0", "--cluster-yes"});
    int st = 0;
    const std::string out = run_program(argv, &st);
    EXPECT_EQ(st, 0) << out;
    // Wait until every node sees the whole cluster as healthy.
    for (auto& n : nodes_) {
      bool ok = false;
      for (int i = 0; i < 1000 && !ok; ++i) {
        ok = n->cli({"CLUSTER", "INFO"}).find("cluster_state:ok") != std::string::npos;
        if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      EXPECT_TRUE(ok) << "cluster node " << n->address() << " never reached cluster_state:ok";
    }
  }

  /// "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3", as PORTCULLIS_REDIS_CLUSTER.
  std::string seeds() const {
    std::string s;
    for (auto& n : nodes_) s += (s.empty() ? "" : ",") + n->address();
    return s;
  }
  redis_process& node(std::size_t i) { return *nodes_[i]; }

 private:
  std::unique_ptr<redis_process> nodes_[3];
};

}  // namespace portcullis::test
