#include "config.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
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

  // A calendar date, "2026-06-01".
  std::chrono::sys_days date(const json& v, const std::string& key) const {
    auto text = string(v, key);
    int y = 0;
    unsigned m = 0, d = 0;
    char tail = 0;
    std::chrono::year_month_day ymd{};
    if (text.size() == 10 && std::sscanf(text.c_str(), "%4d-%2u-%2u%c", &y, &m, &d, &tail) == 3)
      ymd = std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d};
    if (!ymd.ok()) fail(key, "must be a date written YYYY-MM-DD, not \"" + text + "\"");
    return std::chrono::sys_days{ymd};
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
  r.only_keys(
      root, "",
      {"listen", "threads", "trusted_proxies", "allowed_origins", "cors_credentials", "body_limit",
       "upload_limit", "upload", "https", "versioning", "api_keys", "request_timeout_ms", "stores",
       "rate_limits", "tls", "log_level", "development", "slow_route"});

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
  if (root.contains("cors_credentials")) {
    if (!root["cors_credentials"].is_boolean()) r.fail("cors_credentials", "must be true or false");
    c.cors_credentials = root["cors_credentials"].get<bool>();
  }
  if (root.contains("body_limit"))
    c.body_limit = r.number(root["body_limit"], "body_limit", 1, 1ull << 30);
  if (root.contains("upload_limit"))
    c.upload_limit = r.number(root["upload_limit"], "upload_limit", 1, 1ull << 32);
  if (root.contains("upload")) {
    const auto& u = root["upload"];
    if (!u.is_object()) r.fail("upload", "must be an object");
    r.only_keys(u, "upload", {"max_files", "max_file_size", "allowed_types"});
    if (u.contains("max_files"))
      c.upload.max_files = r.number(u["max_files"], "upload.max_files", 1, 1000);
    if (u.contains("max_file_size"))
      c.upload.max_file_size = r.number(u["max_file_size"], "upload.max_file_size", 1, 1ull << 32);
    if (u.contains("allowed_types")) {
      c.upload.allowed_types = r.strings(u["allowed_types"], "upload.allowed_types");
      for (const auto& t : c.upload.allowed_types) {
        auto slash = t.find('/');
        if (slash == 0 || slash == std::string::npos || slash + 1 == t.size() ||
            t.find_first_of("/ ;,", slash + 1) != std::string::npos)
          r.fail("upload.allowed_types",
                 "must list media types such as \"image/png\", not \"" + t + "\"");
      }
    }
  }
  if (root.contains("https")) {
    const auto& h = root["https"];
    if (!h.is_object()) r.fail("https", "must be an object");
    r.only_keys(h, "https", {"enforce", "allowed_hosts", "port", "exempt_paths"});
    if (h.contains("enforce"))
      c.https.enforce = r.choice(h["enforce"], "https.enforce", {"off", "redirect", "refuse"});
    if (c.https.enforce == "off") c.https.enforce.clear();
    if (h.contains("allowed_hosts"))
      c.https.allowed_hosts = r.strings(h["allowed_hosts"], "https.allowed_hosts");
    if (h.contains("port"))
      c.https.port = static_cast<unsigned short>(r.number(h["port"], "https.port", 1, 65535));
    if (h.contains("exempt_paths"))
      c.https.exempt_paths = r.strings(h["exempt_paths"], "https.exempt_paths");
  }
  if (root.contains("versioning")) {
    const auto& v = root["versioning"];
    if (!v.is_object()) r.fail("versioning", "must be an object");
    r.only_keys(v, "versioning", {"unversioned_deprecated", "unversioned_sunset"});
    if (v.contains("unversioned_deprecated"))
      c.versioning.unversioned_deprecated =
          r.date(v["unversioned_deprecated"], "versioning.unversioned_deprecated");
    if (v.contains("unversioned_sunset")) {
      if (!c.versioning.unversioned_deprecated)
        r.fail("versioning.unversioned_sunset",
               "needs versioning.unversioned_deprecated: a sunset is announced with the "
               "deprecation");
      c.versioning.unversioned_sunset =
          r.date(v["unversioned_sunset"], "versioning.unversioned_sunset");
      if (*c.versioning.unversioned_sunset < *c.versioning.unversioned_deprecated)
        r.fail("versioning.unversioned_sunset", "must not be before unversioned_deprecated");
    }
  }
  if (root.contains("api_keys")) {
    const auto& k = root["api_keys"];
    if (!k.is_object()) r.fail("api_keys", "must be an object with \"pepper_file\"");
    r.only_keys(k, "api_keys", {"pepper_file", "pepper_id"});
    if (k.contains("pepper_id")) {
      c.api_key_pepper_id = r.string(k["pepper_id"], "api_keys.pepper_id");
      if (c.api_key_pepper_id.empty() || c.api_key_pepper_id.size() > 16 ||
          c.api_key_pepper_id.find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
              "0123456789_-") != std::string::npos)
        r.fail("api_keys.pepper_id", "must be 1 to 16 of A-Z a-z 0-9 _ -");
    }
    if (k.contains("pepper_file")) {
      const auto path = r.string(k["pepper_file"], "api_keys.pepper_file");
      std::ifstream in(path, std::ios::binary);
      std::stringstream secret;
      if (in) secret << in.rdbuf();
      if (!in) r.fail("api_keys.pepper_file", "cannot be read: \"" + path + "\"");
      c.api_key_pepper = secret.str();
      // One line written by an editor or `echo` ends in a newline: not secret.
      if (c.api_key_pepper.ends_with('\n')) c.api_key_pepper.pop_back();
      if (c.api_key_pepper.ends_with('\r')) c.api_key_pepper.pop_back();
      if (c.api_key_pepper.size() < 32)
        r.fail("api_keys.pepper_file",
               "holds " + std::to_string(c.api_key_pepper.size()) +
                   " bytes; a pepper needs at least 32 random bytes (make one with "
                   "`openssl rand -out FILE 48`)");
    }
  }
  if (root.contains("slow_route")) {
    if (!root["slow_route"].is_boolean()) r.fail("slow_route", "must be true or false");
    c.slow_route = root["slow_route"].get<bool>();
  }
  if (root.contains("request_timeout_ms"))
    c.request_timeout = std::chrono::milliseconds(
        r.number(root["request_timeout_ms"], "request_timeout_ms", 1, 3600 * 1000));
  if (root.contains("stores")) {
    const auto& s = root["stores"];
    if (!s.is_object()) r.fail("stores", "must be an object");
    r.only_keys(s, "stores",
                {"rate_limit", "redis_url", "redis_prefix", "rate_limit_on_error", "api_keys",
                 "postgres_url", "memory_max_keys"});
    if (s.contains("redis_prefix")) {
      c.redis_prefix = r.string(s["redis_prefix"], "stores.redis_prefix");
      if (c.redis_prefix.empty()) r.fail("stores.redis_prefix", "must not be empty");
    }
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
    if (s.contains("memory_max_keys")) {
      c.memory_max_keys =
          r.number(s["memory_max_keys"], "stores.memory_max_keys", 1, 100'000'000);
      // A bound on a store that is not used would look like protection.
      if (c.rate_limit_store != "memory")
        r.fail("stores.memory_max_keys",
               "applies to stores.rate_limit \"memory\" only, not \"" + c.rate_limit_store +
                   "\" (whose keys expire with their window): remove it");
    }
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

  // Checks across keys, once every key is read.
  if (c.upload.max_file_size > c.upload_limit)
    r.fail("upload.max_file_size", "must not exceed upload_limit (" +
                                       std::to_string(c.upload_limit) +
                                       " bytes): the whole form is refused at that size");
  if (!c.https.enforce.empty() && !c.tls_certificate && c.trusted_proxies.empty())
    r.fail("https.enforce",
           "needs \"tls\" or \"trusted_proxies\" (a proxy that terminates TLS and sends "
           "X-Forwarded-Proto): without either every request is plain HTTP");
  if (c.https.enforce == "redirect" && c.https.allowed_hosts.empty())
    r.fail("https.allowed_hosts",
           "is required when https.enforce is \"redirect\": a redirect names only hosts "
           "from this list, never the client's Host header");
  if (c.slow_route && !c.development)
    r.fail("slow_route", "is a test hook and needs \"development\": true");
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
