#include "users.hpp"

#include <portcullis/log.hpp>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <stdexcept>

namespace secure_api {

namespace asio = portcullis::asio;
namespace http = portcullis::http;

namespace {

constexpr std::uint32_t argon_passes = 2;
constexpr std::uint32_t argon_memory_kib = 19 * 1024;
constexpr std::uint32_t argon_lanes = 1;
constexpr std::size_t argon_hash_len = 32;

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return out;
}

std::string base64url(std::string_view bytes) {
  static constexpr char table[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      out.push_back(table[(acc >> (bits - 6)) & 63]);
      bits -= 6;
    }
  }
  if (bits > 0) out.push_back(table[(acc << (6 - bits)) & 63]);
  return out;
}

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string sha256(std::string_view s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  return std::string(reinterpret_cast<char*>(d), sizeof d);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string hash_password(std::string_view password) {
  auto salt = random_bytes(16);
  std::size_t len =
      argon2_encodedlen(argon_passes, argon_memory_kib, argon_lanes,
                        static_cast<std::uint32_t>(salt.size()), argon_hash_len, Argon2_id);
  std::string encoded(len, '\0');
  int rc = argon2id_hash_encoded(argon_passes, argon_memory_kib, argon_lanes, password.data(),
                                 password.size(), salt.data(), salt.size(), argon_hash_len,
                                 encoded.data(), encoded.size());
  if (rc != ARGON2_OK) throw std::runtime_error(argon2_error_message(rc));
  encoded.resize(std::char_traits<char>::length(encoded.c_str()));
  return encoded;
}

bool verify_password(const std::string& encoded, std::string_view password) {
  return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

// Runs `fn` on `pool` and resumes the caller on its own executor.
template <typename F>
asio::awaitable<std::invoke_result_t<F>> offload(asio::thread_pool& pool, F fn) {
  auto home = co_await asio::this_coro::executor;
  co_await asio::post(pool.get_executor(), asio::use_awaitable);
  std::exception_ptr error;
  std::optional<std::invoke_result_t<F>> result;
  try {
    result.emplace(fn());
  } catch (...) {
    error = std::current_exception();
  }
  co_await asio::post(home, asio::use_awaitable);
  if (error) std::rethrow_exception(error);
  co_return std::move(*result);
}

}  // namespace

user_store::user_store(const portcullis::clock& clk, std::chrono::seconds session_ttl)
    : clock_(clk), session_ttl_(session_ttl), dummy_hash_(hash_password(random_bytes(16))) {}

user_store::~user_store() {
  hashers_.join();
}

asio::awaitable<std::optional<user>> user_store::create(std::string email, std::string password,
                                                        std::string name) {
  auto key = lower(email);
  {
    std::lock_guard lock(mutex_);
    if (id_by_email_.count(key)) co_return std::nullopt;
  }
  auto hash = co_await offload(hashers_, [&password] { return hash_password(password); });

  user u;
  u.id = "u_" + hex(random_bytes(8));
  u.email = std::move(email);
  u.name = std::move(name);
  std::lock_guard lock(mutex_);
  if (!id_by_email_.emplace(key, u.id).second) co_return std::nullopt;  // lost a race
  by_id_.emplace(u.id, record{u, std::move(hash)});
  co_return u;
}

asio::awaitable<std::optional<std::string>> user_store::login(std::string_view email,
                                                              std::string_view password) {
  std::string hash = dummy_hash_;
  std::string id;
  {
    std::lock_guard lock(mutex_);
    auto it = id_by_email_.find(lower(email));
    if (it != id_by_email_.end()) {
      id = it->second;
      hash = by_id_.at(id).password_hash;
    }
  }
  // Verify even for an unknown e-mail, so that timing tells nothing.
  std::string pw(password);
  bool ok = co_await offload(hashers_, [&] { return verify_password(hash, pw); });
  OPENSSL_cleanse(pw.data(), pw.size());
  if (!ok || id.empty()) co_return std::nullopt;

  auto token = "sess_" + base64url(random_bytes(32));
  std::lock_guard lock(mutex_);
  // Drop expired sessions while we hold the lock (bounded by logins).
  auto now = clock_.now();
  std::erase_if(sessions_, [now](const auto& s) { return s.second.expires <= now; });
  sessions_[sha256(token)] = session{id, now + session_ttl_};
  co_return token;
}

std::optional<user> user_store::session_user(std::string_view token) const {
  auto digest = sha256(token);
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(digest);
  if (it == sessions_.end() || it->second.expires <= clock_.now()) return std::nullopt;
  auto u = by_id_.find(it->second.user_id);
  if (u == by_id_.end()) return std::nullopt;
  return u->second.u;
}

std::optional<user> user_store::find(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second.u;
}

bool user_store::update(const user& u) {
  std::lock_guard lock(mutex_);
  auto it = by_id_.find(u.id);
  if (it == by_id_.end()) return false;
  it->second.u = u;
  return true;
}

std::shared_ptr<const portcullis::middleware> session_auth(const user_store& users) {
  return portcullis::make_middleware(
      // No coroutine: it never waits, so it passes the request on without
      // a frame of its own.
      [&users](portcullis::request& req, portcullis::context& ctx,
               portcullis::next_handler next) -> asio::awaitable<portcullis::response> {
        auto auth = req[http::field::authorization];
        constexpr std::string_view scheme = "Bearer sess_";
        if (auth.size() > scheme.size() && auth.size() < 256 && auth.starts_with(scheme)) {
          if (auto u = users.session_user(auth.substr(7))) {
            ctx.who.via = portcullis::identity::method::session;
            ctx.who.subject = u->id;
            ctx.who.tier = u->tier;
          }
        }
        return next(req, ctx);
      });
}

std::shared_ptr<const portcullis::middleware> require_session() {
  return portcullis::make_middleware(
      [](portcullis::request& req, portcullis::context& ctx,
         portcullis::next_handler next) -> asio::awaitable<portcullis::response> {
        if (ctx.who.via != portcullis::identity::method::session) {
          auto res = ctx.error(req, http::status::unauthorized,
                               "sign in first: send Authorization: Bearer <session token from "
                               "POST /auth/login>");
          res.set(http::field::www_authenticate, "Bearer");
          co_return res;
        }
        co_return co_await next(req, ctx);
      });
}

}  // namespace secure_api
