#include "client.hpp"

#include "portcullis/detail/block_sigpipe.hpp"
#include "portcullis/detail/redis_hash.hpp"
#include "portcullis/errc.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <utility>

#include <algorithm>
#include <charconv>
#include <future>

namespace portcullis::redis::detail {

script::script(std::string text) : source(std::move(text)), sha1(sha1_hex(source)) {}

struct client::node {
  redis_server server;
  std::vector<std::unique_ptr<connection>> links;
  std::size_t next = 0;

  // A connection with a live context, round-robin; ready ones first.
  connection* pick() {
    connection* fallback = nullptr;
    for (std::size_t i = 0; i < links.size(); ++i) {
      connection* c = links[(next + i) % links.size()].get();
      if (c->ready()) {
        next = (next + i + 1) % links.size();
        return c;
      }
      if (fallback == nullptr && c->alive()) fallback = c;
    }
    return fallback;
  }
  bool ready() const {
    for (const auto& c : links)
      if (!c->ready()) return false;
    return true;
  }
};

struct client::op {
  std::vector<std::string> argv;
  unsigned slot = 0;
  clock::time_point deadline;
  reply_handler done;
  const script* reload = nullptr;  // set for EVALSHA: the script to EVAL on NOSCRIPT
  unsigned redirects = 0;
};

namespace {
constexpr unsigned max_redirects = 5;
}

client::client(redis_options options, counter_set& stats)
    : options_(std::move(options)), stats_(stats) {
  options_.validate();
  for (const auto& s : options_.servers) seeds_.push_back(&node_for(s.host, s.port));
  if (options_.cluster) refresh_slots();

  thread_ = std::thread([this] {
    // hiredis writes with write(2): a Redis that went away would otherwise
    // end the process with SIGPIPE (found under ASan in redis_faults).
    portcullis::detail::block_sigpipe();
    auto guard = asio::make_work_guard(io_);
    io_.run();
  });
}

client::~client() {
  // Stop every connection on the io thread (hiredis is touched there only),
  // then let the thread finish what that posted and leave.
  std::promise<void> stopped;
  asio::post(io_, [this, &stopped] {
    for (auto& [name, n] : nodes_)
      for (auto& c : n->links) c->stop();
    stopped.set_value();
  });
  stopped.get_future().wait();
  asio::post(io_, [this] { io_.stop(); });
  thread_.join();
}

client::node& client::node_for(const std::string& host, std::uint16_t port) {
  redis_server s{host, port};
  auto& slot = nodes_[s.to_string()];
  if (!slot) {
    slot = std::make_unique<node>();
    slot->server = s;
    for (unsigned i = 0; i < options_.connections; ++i) {
      slot->links.push_back(
          std::make_unique<connection>(io_, s, options_, stats_, [this](connection&, bool up) {
            // A lost node may mean a failover: ask the cluster again.
            if (!up && options_.cluster) refresh_slots();
            update_ready();
          }));
      slot->links.back()->start();
    }
  }
  return *slot;
}

void client::execute(std::vector<std::string> argv, std::string_view key, reply_handler done) {
  auto o = std::make_shared<op>();
  o->argv = std::move(argv);
  o->slot = key.empty() ? 0 : hash_slot(key);
  o->deadline = options_.time->now() + options_.call_timeout;
  o->done = std::move(done);
  asio::post(io_, [this, o = std::move(o)]() mutable { dispatch(std::move(o)); });
}

void client::run_script(const script& s, std::string key, std::vector<std::string> args,
                        reply_handler done) {
  auto o = std::make_shared<op>();
  o->argv.reserve(args.size() + 4);
  o->argv.emplace_back("EVALSHA");
  o->argv.push_back(s.sha1);
  o->argv.emplace_back("1");
  o->slot = hash_slot(key);
  o->argv.push_back(std::move(key));
  for (auto& a : args) o->argv.push_back(std::move(a));
  o->deadline = options_.time->now() + options_.call_timeout;
  o->done = std::move(done);
  o->reload = &s;
  asio::post(io_, [this, o = std::move(o)]() mutable { dispatch(std::move(o)); });
}

void client::dispatch(std::shared_ptr<op> o, node* target, bool asking) {
  if (options_.time->now() >= o->deadline) {
    stats_.add(stat_id::timeouts);
    return o->done(make_error_code(errc::store_timeout), reply{});
  }
  node* n = target;
  if (n == nullptr)
    n = options_.cluster && slots_known_ && slots_[o->slot] ? slots_[o->slot] : seeds_.front();
  connection* c = n->pick();
  if (c == nullptr && target == nullptr && options_.cluster) {
    // The slot's owner is down: any live seed answers with MOVED if the
    // slot has moved (a failover), and the map is refreshed meanwhile.
    refresh_slots();
    for (node* s : seeds_)
      if ((c = s->pick()) != nullptr) break;
  }
  if (c == nullptr) {
    return o->done(make_error_code(errc::store_unavailable), reply{});
  }
  std::vector<std::string_view> argv(o->argv.begin(), o->argv.end());
  const auto deadline = o->deadline;
  c->send(
      argv, deadline,
      [this, o](std::error_code ec, reply r) mutable { on_result(std::move(o), ec, std::move(r)); },
      asking);
}

void client::on_result(std::shared_ptr<op> o, std::error_code ec, reply r) {
  if (ec) {
    return o->done(ec, reply{});
  }

  // Cluster redirects: "MOVED <slot> <host>:<port>" (the slot lives there
  // now) and "ASK <slot> <host>:<port>" (this once, during a migration).
  const bool moved = r.error_is("MOVED");
  if ((moved || r.error_is("ASK")) && o->redirects < max_redirects) {
    const std::string_view text = r.str;
    const auto space = text.rfind(' ');
    const auto colon = text.rfind(':');
    unsigned port = 0;
    if (space != std::string_view::npos && colon != std::string_view::npos && colon > space) {
      std::from_chars(text.data() + colon + 1, text.data() + text.size(), port);
      std::string host(text.substr(space + 1, colon - space - 1));
      if (host.empty()) host = seeds_.front()->server.host;  // "MOVED 1 :7001": same host
      if (port > 0 && port < 65536) {
        ++o->redirects;
        node& to = node_for(host, static_cast<std::uint16_t>(port));
        if (moved) {
          stats_.add(stat_id::moved);
          slots_[o->slot] = &to;
          slots_known_ = true;
          refresh_slots();
        } else {
          stats_.add(stat_id::ask);
        }
        return dispatch(std::move(o), &to, !moved);
      }
    }
  }

  // A flushed script cache (SCRIPT FLUSH, a restart, a failover to a
  // replica that never saw the script): every EVALSHA in flight fails, and
  // each is run once more as EVAL, which loads the script again.
  if (r.error_is("NOSCRIPT") && o->reload != nullptr) {
    stats_.add(stat_id::script_reloads);
    o->argv[0] = "EVAL";
    o->argv[1] = o->reload->source;
    o->reload = nullptr;
    return dispatch(std::move(o));
  }

  o->done({}, std::move(r));
}

void client::refresh_slots() {
  // One refresh at a time. A request that arrives while one is in flight
  // is remembered and served when it completes, so that a MOVED seen during
  // a refresh (which may predate the move) still leads to a fresh map.
  const auto now = options_.time->now();
  if (refreshing_) {
    refresh_wanted_ = true;
    return;
  }
  connection* c = nullptr;
  node* from = nullptr;
  for (node* s : seeds_)
    if ((c = s->pick()) != nullptr) {
      from = s;
      break;
    }
  if (c == nullptr)
    for (auto& [name, n] : nodes_)
      if ((c = n->pick()) != nullptr) {
        from = n.get();
        break;
      }
  if (c == nullptr) return;  // retried when a connection comes up
  refreshing_ = true;
  last_refresh_ = now;
  static constexpr std::string_view cmd[] = {"CLUSTER", "SLOTS"};
  c->send(cmd, now + options_.connect_timeout, [this, from](std::error_code ec, reply r) {
    refreshing_ = false;
    if (!ec && r.type == reply::kind::array) apply_slots(r, from->server);
    if (std::exchange(refresh_wanted_, false)) refresh_slots();
  });
}

void client::apply_slots(const reply& r, const redis_server& from) {
  // Each entry: [first slot, last slot, [host, port, id...], replicas...].
  std::array<node*, 16384> fresh{};
  std::size_t covered = 0;
  for (const auto& range : r.elements) {
    if (range.type != reply::kind::array || range.elements.size() < 3) continue;
    const auto& master = range.elements[2];
    if (master.type != reply::kind::array || master.elements.size() < 2) continue;
    const auto first = range.elements[0].integer, last = range.elements[1].integer;
    if (first < 0 || last >= 16384 || first > last) continue;
    std::string host = master.elements[0].str;
    if (host.empty() || host == "?") host = from.host;  // "this node's address"
    const auto port = master.elements[1].integer;
    if (port <= 0 || port > 65535) continue;
    node* n = &node_for(host, static_cast<std::uint16_t>(port));
    for (auto s = first; s <= last; ++s) fresh[static_cast<std::size_t>(s)] = n;
    covered += static_cast<std::size_t>(last - first + 1);
  }
  if (covered == 0) return;
  slots_ = fresh;
  slots_known_ = true;
  stats_.add(stat_id::slot_refreshes);
  // Seeds that are not in the map stay as fall-backs for the next refresh.
  update_ready();
}

void client::update_ready() {
  bool all = !options_.cluster || slots_known_;
  if (all)
    for (auto& [name, n] : nodes_)
      if (!n->ready()) all = false;
  ready_.store(all, std::memory_order_release);
  if (options_.cluster && !slots_known_) refresh_slots();
}

struct client::scan_job {
  std::string pattern;
  std::function<void(std::error_code)> done;
  std::size_t outstanding = 0;
  std::error_code first;

  void finish_one(std::error_code ec) {
    if (ec && !first) first = ec;
    if (--outstanding == 0) done(first);
  }
};

void client::scan_delete(std::string pattern, std::function<void(std::error_code)> done) {
  asio::post(io_, [this, pattern = std::move(pattern), done = std::move(done)]() mutable {
    auto job = std::make_shared<scan_job>();
    job->pattern = std::move(pattern);
    job->done = std::move(done);

    // Every master once: the single server, or each node of the slot map.
    std::vector<node*> targets;
    if (!options_.cluster) {
      targets.push_back(seeds_.front());
    } else if (slots_known_) {
      for (node* n : slots_)
        if (n != nullptr && std::find(targets.begin(), targets.end(), n) == targets.end())
          targets.push_back(n);
    }
    if (targets.empty()) return job->done(make_error_code(errc::store_unavailable));
    job->outstanding = targets.size();
    for (node* n : targets) scan_step(job, n, "0");
  });
}

void client::scan_step(std::shared_ptr<scan_job> job, node* n, std::string cursor) {
  auto o = std::make_shared<op>();
  o->argv = {"SCAN", std::move(cursor), "MATCH", job->pattern, "COUNT", "1000"};
  o->deadline = options_.time->now() + options_.call_timeout;
  o->done = [this, job, n](std::error_code ec, reply r) {
    if (!ec && (r.type != reply::kind::array || r.elements.size() != 2 ||
                r.elements[1].type != reply::kind::array))
      ec = make_error_code(errc::store_protocol);
    if (ec) return job->finish_one(ec);
    for (const auto& key : r.elements[1].elements) {
      ++job->outstanding;
      auto del = std::make_shared<op>();
      del->argv = {"UNLINK", key.str};
      del->slot = hash_slot(key.str);
      del->deadline = options_.time->now() + options_.call_timeout;
      del->done = [job](std::error_code dec, reply dr) {
        if (!dec && dr.is_error()) dec = make_error_code(errc::store_protocol);
        job->finish_one(dec);
      };
      dispatch(std::move(del), n);
    }
    if (r.elements[0].str == "0") return job->finish_one({});
    scan_step(job, n, r.elements[0].str);
  };
  dispatch(std::move(o), n);
}

bool client::wait_ready(std::chrono::milliseconds timeout) const {
  // Polls in small steps: this is for start-up and tests, not the hot path.
  constexpr auto step = std::chrono::milliseconds(2);
  for (auto waited = std::chrono::milliseconds(0); !ready_.load(std::memory_order_acquire);
       waited += step) {
    if (waited >= timeout) return false;
    std::this_thread::sleep_for(step);
  }
  return true;
}

}  // namespace portcullis::redis::detail
