// A throw-away PostgreSQL server for the tests that need one of their own
// (fault tests stop, restart and slow it down without touching the server
// that scripts/test shares between tests):
//
//     portcullis::test::postgres_process pg;         // initdb + start, free port
//     auto url = pg.url();    // postgresql://portcullis@127.0.0.1:PORT/portcullis
//     pg.stop();  pg.start();                          // a crash and a restart
//
// The cluster lives in a temporary folder, listens on 127.0.0.1 only (its
// socket in the same folder), trusts the `portcullis` role and runs with
// fsync off. PostgreSQL refuses to run as root: when the tests run as root
// every server command runs as the unprivileged `postgres` user (Debian's
// package creates it; `nobody` otherwise) through runuser, as
// scripts/lib/services.sh does. The destructor stops the server and
// removes the folder. Binaries come from PORTCULLIS_PG_BIN, else the newest
// /usr/lib/postgresql/*/bin.
#pragma once

#include "support/redis_process.hpp"  // free_port, run_program

#include <gtest/gtest.h>

#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace portcullis::test {

class postgres_process {
 public:
  /// Creates the cluster and the `portcullis` database, and starts it.
  /// Fails the test (and leaves running() false) when that cannot be done.
  postgres_process() : port_(free_port()), bin_(find_bin()) {
    char tmpl[] = "/tmp/portcullis-pg-XXXXXX";
    dir_ = mkdtemp(tmpl);
    if (geteuid() == 0) {
      const passwd* pw = getpwnam("postgres");
      if (pw == nullptr) pw = getpwnam("nobody");
      if (pw == nullptr) {
        ADD_FAILURE() << "running as root with neither a postgres nor a nobody user";
        return;
      }
      user_ = pw->pw_name;
      if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) ADD_FAILURE() << "chown " << dir_;
    }
    if (as_owner({bin_ + "/initdb", "-D", data(), "-U", "portcullis", "-A", "trust", "--no-sync",
                  "-E", "UTF8"}) != 0) {
      ADD_FAILURE() << "initdb failed: " << read(dir_ + "/ctl.log");
      return;
    }
    start();
    int st = 0;
    const auto created = run_program({bin_ + "/createdb", "-h", "127.0.0.1", "-p",
                                      std::to_string(port_), "-U", "portcullis", "portcullis"},
                                     &st);
    if (st != 0) ADD_FAILURE() << "createdb failed: " << created;
  }

  ~postgres_process() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  postgres_process(const postgres_process&) = delete;
  postgres_process& operator=(const postgres_process&) = delete;

  /// Starts (or restarts) the server on the same port and data; returns
  /// once it accepts connections (pg_ctl -w).
  void start() {
    running_ = as_owner({bin_ + "/pg_ctl", "-D", data(), "-l", dir_ + "/log", "-w", "-t", "30",
                         "-o",
                         "-h 127.0.0.1 -p " + std::to_string(port_) + " -k " + dir_ +
                             " -c fsync=off -c max_connections=50",
                         "start"}) == 0;
    if (!running_)
      ADD_FAILURE() << "pg_ctl start failed: " << read(dir_ + "/ctl.log") << "\n" << log();
  }

  /// Stops the server at once ("immediate": a crash; every connection is
  /// cut, nothing is checkpointed). `fast` instead is a clean shutdown.
  void stop(bool fast = false) {
    if (!running_) return;
    as_owner({bin_ + "/pg_ctl", "-D", data(), "-m", fast ? "fast" : "immediate", "-w", "stop"});
    running_ = false;
  }

  bool running() const noexcept { return running_; }
  unsigned short port() const noexcept { return port_; }
  std::string url() const {
    return "postgresql://portcullis@127.0.0.1:" + std::to_string(port_) + "/portcullis";
  }
  /// The server's log so far (for failure messages).
  std::string log() const { return read(dir_ + "/log"); }

 private:
  std::string data() const { return dir_ + "/data"; }

  static std::string find_bin() {
    if (auto v = service_env("PORTCULLIS_PG_BIN")) return *v;
    std::vector<std::string> found;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec))
      if (std::filesystem::exists(e.path() / "bin" / "initdb")) found.push_back(e.path() / "bin");
    // Versions are whole numbers ("15"): the longest, then the greatest, is the newest.
    std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    return found.empty() ? std::string("/usr/lib/postgresql/bin") : found.back();
  }

  static std::string read(const std::string& path) { return run_program({"cat", path}); }

  // Runs a server command as the cluster's owner; its exit status. Output
  // goes to ctl.log in the folder, and the command gets no descriptor of
  // this process but 0-2: `pg_ctl start` leaves the server running, and a
  // server holding a pipe or a socket of the test would keep it open.
  int as_owner(std::vector<std::string> argv) const {
    if (!user_.empty()) argv.insert(argv.begin(), {"runuser", "-u", user_, "--"});
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const std::string out = dir_ + "/ctl.log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

  unsigned short port_;
  std::string bin_;
  std::string dir_;
  std::string user_;  // empty: this process's own user
  bool running_ = false;
};

}  // namespace portcullis::test
