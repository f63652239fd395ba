// Starting the reference server (examples/secure_api) as a real process on a
// free loopback port, and talking to it over real HTTP, for integration
// tests:
//
//     test::reference_server srv{R"({"trusted_proxies": ["127.0.0.1"]})"};
//     auto res = srv.request(http::verb::get, "/health");
//     EXPECT_EQ(res.result(), http::status::ok);
//
// The server is stopped with SIGTERM (and waited for) when the object goes
// out of scope.
#pragma once

#include "support/services.hpp"

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace portcullis::test {

namespace beast_http = boost::beast::http;
using http_request = beast_http::request<beast_http::string_body>;
using http_response = beast_http::response<beast_http::string_body>;

/// A blocking HTTP/1.1 client on one keep-alive connection to 127.0.0.1.
class http_client {
 public:
  explicit http_client(unsigned short port) : socket_(ioc_) {
    boost::asio::ip::tcp::endpoint ep{boost::asio::ip::make_address("127.0.0.1"), port};
    socket_.connect(ep);
  }

  http_response send(http_request req) {
    if (!req.count(beast_http::field::host)) req.set(beast_http::field::host, "127.0.0.1");
    req.prepare_payload();
    beast_http::write(socket_, req);
    http_response res;
    beast_http::response_parser<beast_http::string_body> parser;
    parser.body_limit(64 << 20);
    if (req.method() == beast_http::verb::head) parser.skip(true);
    beast_http::read(socket_, buffer_, parser);
    return parser.release();
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

/// The reference server, started with the given JSON configuration (merged
/// over {"listen": {"port": 0}}), on a port the OS chooses.
class reference_server {
 public:
  explicit reference_server(const std::string& config_json = "{}",
                            const std::string& binary = PORTCULLIS_SECURE_API_BIN) {
    auto cfg = nlohmann::json::parse(config_json);
    if (!cfg.contains("listen")) cfg["listen"] = {{"address", "127.0.0.1"}, {"port", 0}};
    if (!cfg.contains("log_level")) cfg["log_level"] = "warning";
    char path[] = "/tmp/portcullis-config-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    close(fd);
    config_path_ = path;
    std::ofstream(config_path_) << cfg.dump();

    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      close(out[0]);
      close(out[1]);
      execl(binary.c_str(), binary.c_str(), "--config", config_path_.c_str(), (char*)nullptr);
      _exit(127);
    }
    close(out[1]);
    stdout_ = fdopen(out[0], "r");

    // The first line says where it listens.
    char line[256] = {0};
    if (std::fgets(line, sizeof line, stdout_) == nullptr)
      throw std::runtime_error("the reference server did not start (" + binary + ")");
    std::string s = line;
    auto colon = s.rfind(':');
    port_ = static_cast<unsigned short>(std::stoi(s.substr(colon + 1)));
  }

  ~reference_server() { stop(); }

  /// Sends SIGTERM and waits; returns the exit status.
  int stop() {
    if (pid_ <= 0) return status_;
    kill(pid_, SIGTERM);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    if (stdout_) std::fclose(stdout_);
    stdout_ = nullptr;
    std::remove(config_path_.c_str());
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
  }

  unsigned short port() const { return port_; }
  pid_t pid() const { return pid_; }

  /// One request on a new connection.
  http_response request(beast_http::verb method, std::string target, std::string body = {},
                        std::initializer_list<std::pair<std::string, std::string>> headers = {}) {
    http_request req{method, target, 11};
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() && !req.count(beast_http::field::content_type))
      req.set(beast_http::field::content_type, "application/json");
    req.body() = std::move(body);
    http_client c{port_};
    return c.send(std::move(req));
  }

 private:
  std::string config_path_;
  pid_t pid_ = -1;
  int status_ = 0;
  FILE* stdout_ = nullptr;
  unsigned short port_ = 0;
};

}  // namespace portcullis::test
