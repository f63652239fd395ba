#include "portcullis/chain.hpp"

#include "portcullis/detail/ready.hpp"
#include "portcullis/errc.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <random>
#include <set>

namespace portcullis {
namespace detail {

struct layer {
  std::string prefix;  // empty: every request
  std::shared_ptr<const middleware> mw;
};

struct route_entry {
  http::verb method;
  std::string pattern;
  bool wildcard = false;  // pattern ends in "/*"
  bool literal = false;   // no {param} and no wildcard: matched by ==
  std::string_view stem;  // pattern without "/*"
  handler h;
  std::optional<std::uint64_t> body_limit;
  std::vector<std::shared_ptr<const middleware>> mws;
};

enum outcome : std::uint8_t { found, not_found, method_not_allowed, options_only };

struct chain_state {
  std::vector<layer> layers;
  std::vector<std::unique_ptr<route_entry>> routes;
  forwarding_options forwarding;
  client_resolver resolver;
  std::uint64_t default_body_limit = 1 << 20;
  error_format errors = error_format::json;
  logger log{nullptr, log_level::off};
  const clock* clk = &system_clock();
  counter_set counters{
      "chain", "chain", {"not_found", "method_not_allowed", "untrusted_forwarding"}};
  mutable log_throttle forwarding_warning{std::chrono::minutes(10)};
};

asio::awaitable<response> ready(response res) {
  co_return res;
}

}  // namespace detail

namespace {

using detail::outcome;
using detail::ready;
using detail::route_entry;

enum chain_counter : std::size_t { c_not_found, c_method_not_allowed, c_untrusted_forwarding };

// True when `path` is `prefix` or lies below it, segment-wise.
bool under_prefix(std::string_view path, std::string_view prefix) noexcept {
  if (prefix.empty() || prefix == "/") return true;
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

// Matches `path` against a route pattern, filling params when it matches.
bool match_pattern(const route_entry& r, std::string_view path, route_param* params,
                   std::size_t& count) noexcept {
  count = 0;
  if (r.wildcard) return under_prefix(path, r.stem);
  if (r.literal) return path == r.pattern;
  std::string_view pat = r.pattern;
  // Both start with '/': compare segment by segment.
  while (true) {
    if (pat.empty() || path.empty()) return pat.empty() && path.empty();
    if (pat.front() != '/' || path.front() != '/') return false;
    pat.remove_prefix(1);
    path.remove_prefix(1);
    auto pe = pat.find('/');
    auto se = path.find('/');
    auto pseg = pat.substr(0, pe);
    auto sseg = path.substr(0, se);
    if (pseg.size() >= 2 && pseg.front() == '{' && pseg.back() == '}') {
      if (sseg.empty()) return false;
      if (params != nullptr) params[count] = {pseg.substr(1, pseg.size() - 2), sseg};
      ++count;
    } else if (pseg != sseg) {
      return false;
    }
    pat.remove_prefix(pseg.size());
    path.remove_prefix(sseg.size());
  }
}

struct match_result {
  const route_entry* route = nullptr;
  outcome result = outcome::not_found;
  std::array<route_param, max_route_params> params{};
  std::size_t param_count = 0;
};

match_result match(const detail::chain_state& s, http::verb method, std::string_view path) {
  match_result out;
  route_param* scratch = out.params.data();
  std::size_t& count = out.param_count;
  // The first route of the method whose pattern matches; other methods'
  // patterns are only looked at to tell 405 from 404.
  auto try_method = [&](http::verb m) -> const route_entry* {
    for (const auto& r : s.routes)
      if (r->method == m && match_pattern(*r, path, scratch, count)) return r.get();
    return nullptr;
  };

  const route_entry* r = try_method(method);
  if (r == nullptr && method == http::verb::head) r = try_method(http::verb::get);
  out.route = r;
  if (r != nullptr) {
    out.result = outcome::found;
  } else {
    out.param_count = 0;
    const bool path_known = std::any_of(s.routes.begin(), s.routes.end(), [&](const auto& e) {
      std::size_t unused = 0;
      return match_pattern(*e, path, nullptr, unused);
    });
    if (path_known)
      out.result =
          method == http::verb::options ? outcome::options_only : outcome::method_not_allowed;
  }
  return out;
}

// The methods that some route accepts for `path`, for `Allow`.
std::string allowed_methods(const detail::chain_state& s, std::string_view path) {
  std::set<std::string_view> names;
  for (const auto& r : s.routes) {
    std::size_t count = 0;
    if (!match_pattern(*r, path, nullptr, count)) continue;
    names.insert(http::to_string(r->method));
    if (r->method == http::verb::get) names.insert("HEAD");
  }
  names.insert("OPTIONS");
  std::string out;
  for (auto n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// A request id: 15 characters of [0-9a-v], 75 random bits. The generator
// is seeded per thread from OpenSSL; ids need to be unique, not secret.
void make_request_id(std::string& out) {
  thread_local std::mt19937_64 gen = [] {
    std::uint64_t seed = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed) != 1)
      seed = std::random_device{}();
    return std::mt19937_64{seed};
  }();
  static constexpr char alphabet[] = "0123456789abcdefghijklmnopqrstuv";
  std::uint64_t a = gen(), b = gen();
  out.resize(15);
  for (int i = 0; i < 12; ++i) out[i] = alphabet[(a >> (5 * i)) & 31];
  for (int i = 12; i < 15; ++i) out[i] = alphabet[(b >> (5 * (i - 12))) & 31];
}

bool valid_pattern(std::string_view p) {
  if (p.empty() || p.front() != '/') return false;
  std::size_t params = 0;
  std::string_view rest = p;
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the '/'
    auto seg = rest.substr(0, rest.find('/'));
    rest.remove_prefix(seg.size());
    if (seg == "*") return rest.empty();                    // only as the last segment
    if (seg.empty()) return rest.empty() && p.size() == 1;  // only "/" itself
    bool braced = seg.front() == '{';
    if (braced && (seg.size() < 3 || seg.back() != '}')) return false;
    if (braced && ++params > max_route_params) return false;
    auto inner = braced ? seg.substr(1, seg.size() - 2) : seg;
    for (char c : inner)
      if (c == '{' || c == '}' || c == '?' || c == '#' || c == '*' ||
          static_cast<unsigned char>(c) <= ' ')
        return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------

std::string_view target_path(std::string_view target) noexcept {
  if (target.starts_with("http://") || target.starts_with("https://")) {
    auto start = target.find("//") + 2;
    auto slash = target.find_first_of("/?", start);
    if (slash == std::string_view::npos || target[slash] == '?') return "/";
    target.remove_prefix(slash);
  }
  return target.substr(0, target.find('?'));
}

std::string_view target_query(std::string_view target) noexcept {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  auto rest = target.substr(q + 1);
  return rest.substr(0, rest.find('#'));
}

asio::awaitable<response> next_handler::operator()(request& req, context& ctx) const {
  const auto& layers = chain_->layers;
  std::uint32_t i = position_;

  // The chain's own middleware whose prefix matches.
  for (; i < layers.size(); ++i) {
    if (!under_prefix(ctx.path, layers[i].prefix)) continue;
    return layers[i].mw->handle(req, ctx, next_handler{chain_, route_, i + 1, outcome_});
  }

  // The route's middleware, then its handler.
  if (route_ != nullptr) {
    std::size_t j = i - layers.size();
    if (j < route_->mws.size())
      return route_->mws[j]->handle(req, ctx, next_handler{chain_, route_, i + 1, outcome_});
    return route_->h(req, ctx);
  }

  // No route: 404, 405, or the answer to a plain OPTIONS.
  auto& counters = const_cast<counter_set&>(chain_->counters);
  if (outcome_ == outcome::not_found) {
    counters.add(c_not_found);
    return ready(ctx.error(req, http::status::not_found, "not found"));
  }
  auto allow = allowed_methods(*chain_, ctx.path);
  if (outcome_ == outcome::options_only) {
    response res{http::status::no_content, req.version()};
    res.set(http::field::allow, allow);
    res.keep_alive(req.keep_alive());
    return ready(std::move(res));
  }
  counters.add(c_method_not_allowed);
  auto res = ctx.error(req, http::status::method_not_allowed, "method not allowed");
  res.set(http::field::allow, allow);
  return ready(std::move(res));
}

std::shared_ptr<const middleware> make_middleware(
    std::function<asio::awaitable<response>(request&, context&, next_handler)> fn) {
  class lambda_middleware final : public middleware {
   public:
    explicit lambda_middleware(decltype(fn) f) : f_(std::move(f)) {}
    asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const override {
      return f_(req, ctx, next);
    }

   private:
    decltype(fn) f_;
  };
  if (!fn) throw config_error("make_middleware: the function is empty");
  return std::make_shared<lambda_middleware>(std::move(fn));
}

// ---------------------------------------------------------------------------

chain::builder::builder() : state_(std::make_unique<detail::chain_state>()) {}
chain::builder::~builder() = default;
chain::builder::builder(builder&&) noexcept = default;
chain::builder& chain::builder::operator=(builder&&) noexcept = default;

chain::builder& chain::builder::use(std::shared_ptr<const middleware> mw) {
  return use("", std::move(mw));
}

chain::builder& chain::builder::use(std::string_view prefix, std::shared_ptr<const middleware> mw) {
  if (!mw) throw config_error("chain::use: the middleware is null");
  if (!prefix.empty() && (prefix.front() != '/' || prefix.find_first_of("?#*{}") != prefix.npos))
    throw config_error("chain::use: prefix '" + std::string(prefix) +
                       "' must be a path starting with '/', without '?', '#', '*' or braces");
  std::string p(prefix);
  if (p.size() > 1 && p.back() == '/') p.pop_back();
  state_->layers.push_back({std::move(p), std::move(mw)});
  return *this;
}

chain::builder& chain::builder::route(http::verb method, std::string_view pattern, handler h,
                                      route_options options) {
  if (!h)
    throw config_error("chain::route: the handler for '" + std::string(pattern) + "' is empty");
  if (method == http::verb::unknown)
    throw config_error("chain::route: '" + std::string(pattern) + "' has an unknown method");
  if (!valid_pattern(pattern))
    throw config_error("chain::route: '" + std::string(pattern) +
                       "' is not a route pattern: use '/a/b', '/a/{param}' (at most " +
                       std::to_string(max_route_params) + " parameters) or '/a/*'");
  for (const auto& r : state_->routes)
    if (r->method == method && r->pattern == pattern)
      throw config_error("chain::route: " + std::string(http::to_string(method)) + " " +
                         std::string(pattern) + " is added twice");
  for (const auto& mw : options.middleware)
    if (!mw)
      throw config_error("chain::route: a middleware of '" + std::string(pattern) + "' is null");

  auto r = std::make_unique<route_entry>();
  r->method = method;
  r->pattern = std::string(pattern);
  r->wildcard = pattern.ends_with("/*");
  r->literal = !r->wildcard && pattern.find('{') == std::string_view::npos;
  r->stem = std::string_view(r->pattern).substr(0, r->wildcard ? r->pattern.size() - 2 : 0);
  r->h = std::move(h);
  r->body_limit = options.body_limit;
  r->mws = std::move(options.middleware);
  state_->routes.push_back(std::move(r));
  return *this;
}

chain::builder& chain::builder::forwarding(const forwarding_options& options) {
  state_->resolver = client_resolver{options};
  return *this;
}

chain::builder& chain::builder::body_limit(std::uint64_t bytes) {
  state_->default_body_limit = bytes;
  return *this;
}

chain::builder& chain::builder::errors(error_format format) {
  state_->errors = format;
  return *this;
}

chain::builder& chain::builder::log(logger l) {
  state_->log = std::move(l);
  return *this;
}

chain::builder& chain::builder::time(const clock& clk) {
  state_->clk = &clk;
  return *this;
}

chain chain::builder::build() && {
  if (!state_) throw config_error("chain::builder: build() was already called");
  return chain{std::shared_ptr<const detail::chain_state>(std::move(state_))};
}

// ---------------------------------------------------------------------------

void chain::prepare(const request& req, context& ctx) const {
  const auto& s = *state_;
  auto who = s.resolver.resolve(ctx.peer_address, req.base());
  ctx.client_address = who.address;
  ctx.https = ctx.tls || who.forwarded_https;
  ctx.errors = s.errors;
  ctx.clock_ = s.clk;
  if (ctx.request_id.empty()) make_request_id(ctx.request_id);
  ctx.path = target_path(req.target());
  ctx.raw_query = target_query(req.target());

  if (who.untrusted_forwarding) {
    const_cast<counter_set&>(s.counters).add(c_untrusted_forwarding);
    std::uint64_t held = 0;
    if (s.log.enabled(log_level::warning) && s.forwarding_warning.allow(*s.clk, held))
      s.log.log(log_level::warning, "chain.untrusted_forwarding_header",
                {{"peer", ctx.peer_address.to_string()},
                 {"hint",
                  "a forwarding header came from a peer that is not a trusted proxy and "
                  "was ignored; add your proxies to forwarding_options.trusted_proxies"},
                 {"suppressed", held}});
  }
}

asio::awaitable<response> chain::handle(request& req, context& ctx) const {
  prepare(req, ctx);
  auto m = match(*state_, req.method(), ctx.path);
  ctx.params_ = m.params;
  ctx.param_count_ = m.param_count;
  ctx.route_pattern = m.route != nullptr ? std::string_view(m.route->pattern) : std::string_view{};
  return next_handler{state_.get(), m.route, 0, static_cast<std::uint8_t>(m.result)}(req, ctx);
}

void chain::decorate_refusal(const request& head, context& ctx, response& res) const noexcept {
  try {
    prepare(head, ctx);
  } catch (const std::exception&) {
    return;  // allocation failure: the refusal goes out as it is
  }
  const auto& layers = state_->layers;
  for (auto it = layers.rbegin(); it != layers.rend(); ++it)
    if (under_prefix(ctx.path, it->prefix)) it->mw->decorate_refusal(head, ctx, res);
}

std::uint64_t chain::body_limit_for(http::verb method, std::string_view target) const {
  auto m = match(*state_, method, target_path(target));
  if (m.route != nullptr && m.route->body_limit) return *m.route->body_limit;
  return state_->default_body_limit;
}

std::vector<const counter_set*> chain::counters() const {
  std::vector<const counter_set*> out{&state_->counters};
  auto add = [&out](const std::shared_ptr<const middleware>& mw) {
    const counter_set* c = mw->counters();
    if (c != nullptr && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  };
  for (const auto& l : state_->layers) add(l.mw);
  for (const auto& r : state_->routes)
    for (const auto& mw : r->mws) add(mw);
  return out;
}

const logger& chain::log() const noexcept {
  return state_->log;
}

const client_resolver& chain::resolver() const noexcept {
  return state_->resolver;
}

bool identity::has_scope(std::string_view scope) const noexcept {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

std::string_view context::param(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < param_count_; ++i)
    if (params_[i].name == name) return params_[i].value;
  return {};
}

}  // namespace portcullis
