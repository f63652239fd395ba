#include "config.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

namespace secure_api {
namespace {

using json = nlohmann::json;

struct reader {
  const std::string& origin;

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw std::runtime_error(origin + ": \"" + key + "\" " + what);
  }

  void only_keys(const json& obj, const std::string& where,
                 const std::set<std::string>& keys) const {
    for (const auto& [k, v] : obj.items()) {
      if (keys.count(k)) continue;
      std::string known;
      for (const auto& n : keys) known += (known.empty() ? "" : ", ") + n;
      fail(where.empty() ? k : where + "." + k, "is not a known key (known: " + known + ")");
    }
  }

  std::string string(const json& v, const std::string& key) const {
    if (!v.is_string()) fail(key, "must be a string");
    return v.get<std::string>();
  }

  std::uint64_t number(const json& v, const std::string& key, std::uint64_t lo,
                       std::uint64_t hi) const {
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0))
      fail(key, "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
    auto n = v.get<std::uint64_t>();
    if (n < lo || n > hi)
      fail(key, "must be from " + std::to_string(lo) + " to " + std::to_string(hi) + ", not " +
                    std::to_string(n));
    return n;
  }

  std::vector<std::string> strings(const json& v, const std::string& key) const {
    if (!v.is_array()) fail(key, "must be a list of strings");
    std::vector<std::string> out;
    for (const auto& e : v) out.push_back(string(e, key + "[]"));
    return out;
  }

  std::string choice(const json& v, const std::string& key, const std::set<std::string>& ok) const {
    auto s = string(v, key);
    if (!ok.count(s)) {
      std::string list;
      for (const auto& o : ok) list += (list.empty() ? "" : ", ") + o;
      fail(key, "must be one of " + list + ", not \"" + s + "\"");
    }
    return s;
  }

  // {"limit": N, "window_seconds": S}; either may be left out.
  void limit(const json& v, const std::string& key, limit_setting& out) const {
    if (!v.is_object()) fail(key, "must be an object with \"limit\" and \"window_seconds\"");
    only_keys(v, key, {"limit", "window_seconds"});
    // The login limiter keeps one timestamp per request counted: at most
    // 100 000 (rate_policy::validate); the same bound for every limiter.
    if (v.contains("limit")) out.limit = number(v["limit"], key + ".limit", 1, 100000);
    if (v.contains("window_seconds"))
      out.window = std::chrono::seconds(
          number(v["window_seconds"], key + ".window_seconds", 1, 366 * 24 * 3600));
  }
};

}  // namespace

config parse_config(const std::string& text, const std::string& origin) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    throw std::runtime_error(origin + ": not valid JSON (" + e.what() + ")");
  }
  reader r{origin};
  if (!root.is_object()) throw std::runtime_error(origin + ": must be a JSON object");
  r.only_keys(root, "",
              {"listen", "threads", "trusted_proxies", "allowed_origins", "body_limit",
               "upload_limit", "request_timeout_ms", "stores", "rate_limits", "tls", "log_level",
               "development"});

  config c;
  if (root.contains("listen")) {
    const auto& l = root["listen"];
    if (!l.is_object()) r.fail("listen", "must be an object with \"address\" and \"port\"");
    r.only_keys(l, "listen", {"address", "port"});
    if (l.contains("address")) c.address = r.string(l["address"], "listen.address");
    if (l.contains("port"))
      c.port = static_cast<unsigned short>(r.number(l["port"], "listen.port", 0, 65535));
  }
  if (root.contains("threads"))
    c.threads = static_cast<unsigned>(r.number(root["threads"], "threads", 0, 256));
  if (root.contains("trusted_proxies"))
    c.trusted_proxies = r.strings(root["trusted_proxies"], "trusted_proxies");
  if (root.contains("allowed_origins"))
    c.allowed_origins = r.strings(root["allowed_origins"], "allowed_origins");
  if (root.contains("body_limit"))
    c.body_limit = r.number(root["body_limit"], "body_limit", 1, 1ull << 30);
  if (root.contains("upload_limit"))
    c.upload_limit = r.number(root["upload_limit"], "upload_limit", 1, 1ull << 32);
  if (root.contains("request_timeout_ms"))
    c.request_timeout = std::chrono::milliseconds(
        r.number(root["request_timeout_ms"], "request_timeout_ms", 1, 3600 * 1000));
  if (root.contains("stores")) {
    const auto& s = root["stores"];
    if (!s.is_object()) r.fail("stores", "must be an object");
    r.only_keys(s, "stores",
                {"rate_limit", "redis_url", "rate_limit_on_error", "api_keys", "postgres_url"});
    if (s.contains("rate_limit"))
      c.rate_limit_store = r.choice(s["rate_limit"], "stores.rate_limit", {"memory", "redis"});
    if (s.contains("redis_url")) c.redis_url = r.string(s["redis_url"], "stores.redis_url");
    if (s.contains("rate_limit_on_error"))
      c.rate_limit_on_error =
          r.choice(s["rate_limit_on_error"], "stores.rate_limit_on_error", {"open", "closed"});
    if (s.contains("api_keys"))
      c.api_key_store = r.choice(s["api_keys"], "stores.api_keys", {"memory", "postgres"});
    if (s.contains("postgres_url"))
      c.postgres_url = r.string(s["postgres_url"], "stores.postgres_url");
    if (c.rate_limit_store == "redis" && c.redis_url.empty())
      r.fail("stores.redis_url", "is required when stores.rate_limit is \"redis\"");
    if (c.api_key_store == "postgres" && c.postgres_url.empty())
      r.fail("stores.postgres_url", "is required when stores.api_keys is \"postgres\"");
    // Redis can fail; whether requests then pass uncounted or get 503 is a
    // decision for whoever runs the service, not a default.
    if (c.rate_limit_store == "redis" && c.rate_limit_on_error.empty())
      r.fail("stores.rate_limit_on_error",
             "is required when stores.rate_limit is \"redis\": \"open\" lets requests "
             "through uncounted while Redis is down, \"closed\" answers them 503");
  }
  if (root.contains("rate_limits")) {
    const auto& l = root["rate_limits"];
    if (!l.is_object()) r.fail("rate_limits", "must be an object");
    r.only_keys(l, "rate_limits", {"api", "login", "forgot_password", "tiers"});
    auto& out = c.rate_limits;
    if (l.contains("api")) r.limit(l["api"], "rate_limits.api", out.api);
    if (l.contains("login")) r.limit(l["login"], "rate_limits.login", out.login);
    if (l.contains("forgot_password"))
      r.limit(l["forgot_password"], "rate_limits.forgot_password", out.forgot_password);
    if (l.contains("tiers")) {
      const auto& t = l["tiers"];
      if (!t.is_object()) r.fail("rate_limits.tiers", "must be an object");
      r.only_keys(t, "rate_limits.tiers", {"free", "pro", "enterprise"});
      if (t.contains("free")) r.limit(t["free"], "rate_limits.tiers.free", out.tier_free);
      if (t.contains("pro")) r.limit(t["pro"], "rate_limits.tiers.pro", out.tier_pro);
      if (t.contains("enterprise"))
        r.limit(t["enterprise"], "rate_limits.tiers.enterprise", out.tier_enterprise);
    }
  }
  if (root.contains("tls")) {
    const auto& t = root["tls"];
    if (!t.is_object()) r.fail("tls", "must be an object with \"certificate\" and \"private_key\"");
    r.only_keys(t, "tls", {"certificate", "private_key"});
    if (!t.contains("certificate") || !t.contains("private_key"))
      r.fail("tls", "needs both \"certificate\" and \"private_key\" (PEM file paths)");
    c.tls_certificate = r.string(t["certificate"], "tls.certificate");
    c.tls_private_key = r.string(t["private_key"], "tls.private_key");
  }
  if (root.contains("log_level"))
    c.log_level =
        r.choice(root["log_level"], "log_level", {"debug", "info", "warning", "error", "off"});
  if (root.contains("development")) {
    if (!root["development"].is_boolean()) r.fail("development", "must be true or false");
    c.development = root["development"].get<bool>();
  }
  return c;
}

config load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

}  // namespace secure_api
