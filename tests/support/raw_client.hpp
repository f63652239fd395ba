// A raw-socket HTTP/1.1 client for tests: it sends exactly the bytes it is
// given (malformed ones included) and reads answers with timeouts, over
// plain TCP or over TLS (OpenSSL directly, no Asio).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace portcullis::test {

/// One answer as read from the wire.
struct reply {
  int status = 0;
  std::string head;  // status line and fields, up to the empty line
  std::string body;

  /// The value of the first field `name` (case-insensitive), or empty.
  std::string field(std::string_view name) const {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
      std::size_t start = pos + 2;
      std::size_t end = head.find("\r\n", start);
      std::string_view line(head.data() + start,
                            (end == std::string::npos ? head.size() : end) - start);
      auto colon = line.find(':');
      if (colon == name.size()) {
        bool same = true;
        for (std::size_t i = 0; i < name.size(); ++i)
          same = same && std::tolower(static_cast<unsigned char>(line[i])) ==
                             std::tolower(static_cast<unsigned char>(name[i]));
        if (same) {
          auto v = line.substr(colon + 1);
          while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
          return std::string(v);
        }
      }
      pos = end;
    }
    return {};
  }
};

class raw_client {
 public:
  /// Connects to 127.0.0.1:port, from `source` when given (any 127.x.y.z).
  explicit raw_client(unsigned short port, const char* source = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    if (source != nullptr) {
      sockaddr_in from{};
      from.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &from.sin_addr);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0)
        throw std::runtime_error("bind");
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
      throw std::runtime_error("connect");
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;
  ~raw_client() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }

  /// Starts TLS; `max_version` limits the client (to test old versions).
  /// Returns false when the handshake fails.
  bool start_tls(int max_version = 0) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (max_version != 0) {
      SSL_CTX_set_min_proto_version(ctx_, TLS1_VERSION);
      SSL_CTX_set_max_proto_version(ctx_, max_version);
      SSL_CTX_set_cipher_list(ctx_, "DEFAULT:@SECLEVEL=0");
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    return SSL_connect(ssl_) == 1;
  }

  /// The negotiated TLS version ("TLSv1.3"), or empty.
  std::string tls_version() const { return ssl_ != nullptr ? SSL_get_version(ssl_) : ""; }

  /// Sends all of `bytes`; false when the peer has gone.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      long n = ssl_ != nullptr ? SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()))
                               : ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Reads one answer (1xx answers included) within `timeout`.
  std::optional<reply> read(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(until)) return std::nullopt;
    reply r;
    r.head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    if (r.head.size() < 12 || r.head.compare(0, 5, "HTTP/") != 0) return std::nullopt;
    r.status = std::stoi(r.head.substr(9, 3));
    std::size_t length = 0;
    if (auto cl = r.field("Content-Length"); !cl.empty() && !head_only_) length = std::stoul(cl);
    if (r.status < 200) length = 0;
    while (buffer_.size() < length)
      if (!fill(until)) return std::nullopt;
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  /// The next read() expects an answer to HEAD (no body after the header).
  void expect_head() { head_only_ = true; }
  void expect_body() { head_only_ = false; }

  /// True when the server closes (or resets) the connection within
  /// `timeout` without sending anything more.
  bool closed(std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    if (!buffer_.empty()) return false;
    char c;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      }
      long n = ssl_ != nullptr ? SSL_read(ssl_, &c, 1) : ::recv(fd_, &c, 1, 0);
      if (n > 0) return false;
      if (ssl_ != nullptr && n < 0 &&
          SSL_get_error(ssl_, static_cast<int>(n)) == SSL_ERROR_WANT_READ)
        continue;
      return true;  // 0: orderly close; < 0: reset
    }
  }

  int fd() const noexcept { return fd_; }

 private:
  bool fill(std::chrono::steady_clock::time_point until) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (ssl_ == nullptr || SSL_pending(ssl_) == 0) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    }
    char chunk[16384];
    long n =
        ssl_ != nullptr ? SSL_read(ssl_, chunk, sizeof chunk) : ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      if (ssl_ != nullptr && n < 0 &&
          SSL_get_error(ssl_, static_cast<int>(n)) == SSL_ERROR_WANT_READ)
        return true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buffer_;
  bool head_only_ = false;
};

}  // namespace portcullis::test
