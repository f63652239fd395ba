// The reference server's users and sessions: a minimal, real user store.
//
// Passwords are hashed with Argon2id (libargon2, OWASP's parameters: 19 MiB,
// 2 passes, 1 lane) on a small thread pool, never on an I/O thread. A login
// returns a session token ("sess_" + 256 random bits, base64url) that the
// client sends as `Authorization: Bearer sess_...`; only its SHA-256 is
// kept. Everything lives in memory: a restart logs everyone out. This is
// the model of a user store, not a production one (no persistence, no
// e-mail verification).
#pragma once

#include <portcullis/clock.hpp>
#include <portcullis/middleware.hpp>

#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace secure_api {

struct user {
  std::string id;  // "u_" + 16 hex digits
  std::string email;
  std::string name;
  std::string bio;      // sanitized HTML
  std::string website;  // a URL or empty
  std::string tier = "free";
};

class user_store {
 public:
  explicit user_store(const portcullis::clock& clk,
                      std::chrono::seconds session_ttl = std::chrono::hours(12));
  ~user_store();

  /// Creates a user; nothing when the e-mail is taken (case-insensitive).
  portcullis::asio::awaitable<std::optional<user>> create(std::string email, std::string password,
                                                          std::string name);

  /// Checks a password; returns a new session token, or nothing. Takes the
  /// same time whether or not the e-mail exists.
  portcullis::asio::awaitable<std::optional<std::string>> login(std::string_view email,
                                                                std::string_view password);

  /// The user of a session token, or nothing (unknown or expired).
  std::optional<user> session_user(std::string_view token) const;

  std::optional<user> find(const std::string& id) const;
  bool update(const user& u);

  std::chrono::seconds session_ttl() const { return session_ttl_; }

 private:
  struct record {
    user u;
    std::string password_hash;  // Argon2id encoded
  };
  struct session {
    std::string user_id;
    portcullis::clock::time_point expires;
  };

  const portcullis::clock& clock_;
  std::chrono::seconds session_ttl_;
  boost::asio::thread_pool hashers_{2};
  std::string dummy_hash_;  // verified against when the e-mail is unknown
  mutable std::mutex mutex_;
  std::unordered_map<std::string, record> by_id_;
  std::unordered_map<std::string, std::string> id_by_email_;
  mutable std::unordered_map<std::string, session> sessions_;  // by token digest
};

/// Sets ctx.who from `Authorization: Bearer sess_...` when the session is
/// valid. Other credentials (API keys) are left to their own middleware.
std::shared_ptr<const portcullis::middleware> session_auth(const user_store& users);

/// Answers 401 unless ctx.who is a signed-in user (a session).
std::shared_ptr<const portcullis::middleware> require_session();

}  // namespace secure_api
