#include "client.hpp"

#include "portcullis/detail/block_sigpipe.hpp"
#include "portcullis/detail/redis_hash.hpp"
#include "portcullis/errc.hpp"

#include <boost/asio/execution_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <future>
#include <map>
#include <mutex>
#include <utility>

namespace portcullis::redis::detail {

script::script(std::string text) : source(std::move(text)), sha1(sha1_hex(source)) {}

struct node {
  redis_server server;
  std::vector<std::shared_ptr<connection>> links;
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

// One call, from submission until its handler has run. The handler runs
// exactly once: an op dropped without an answer (a handler of it destroyed
// unrun, because the io_context it was queued on is being destroyed)
// answers store_unavailable as it goes.
struct op {
  op() = default;
  op(const op&) = delete;
  op& operator=(const op&) = delete;
  ~op() {
    if (done) finish(make_error_code(errc::store_unavailable), reply{});
  }

  void finish(std::error_code ec, reply r) {
    auto d = std::exchange(done, nullptr);
    d(ec, std::move(r));
  }

  std::vector<std::string> argv;
  unsigned slot = 0;
  clock::time_point deadline;
  reply_handler done;
  const script* reload = nullptr;  // set for EVALSHA: the script to EVAL on NOSCRIPT
  unsigned redirects = 0;
};

namespace {
constexpr unsigned max_redirects = 5;

// The cores of the clients on one execution context. When the context is
// destroyed before a client (a server that owns its io_context and is
// destroyed before the store it shares), Asio shuts this service down
// before the reactor and the strands that the connections use: each core
// lets go of its connections there, failing what is in flight, and every
// later call fails at once with store_unavailable.
class core_registry : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;

  explicit core_registry(asio::execution_context& ctx) : service(ctx) {}

  void add(const std::shared_ptr<client::core>& c) {
    std::lock_guard lock(mutex_);
    std::erase_if(cores_, [](const std::weak_ptr<client::core>& w) { return w.expired(); });
    cores_.push_back(c);
  }

 private:
  void shutdown() override;

  std::mutex mutex_;
  std::vector<std::weak_ptr<client::core>> cores_;
};

}  // namespace

struct client::core : std::enable_shared_from_this<core> {
  core(const redis_options& o, std::shared_ptr<counter_set> s, asio::any_io_executor ex)
      : options(std::make_shared<const redis_options>(o)),
        stats(std::move(s)),
        strand(asio::make_strand(std::move(ex))) {}

  node& node_for(const std::string& host, std::uint16_t port);
  void start();
  void submit(std::shared_ptr<op> o);
  void dispatch(std::shared_ptr<op> o, node* target = nullptr, bool asking = false);
  void on_result(std::shared_ptr<op> o, std::error_code ec, reply r);
  void refresh_slots();
  void apply_slots(const reply& r, const redis_server& from);
  void update_ready();
  void scan_step(std::shared_ptr<struct scan_job> job, node* n, std::string cursor);
  // Stops every connection, failing what is in flight at once. On the
  // strand, or from the registry while the context shuts down.
  void abandon();

  const std::shared_ptr<const redis_options> options;
  const std::shared_ptr<counter_set> stats;
  // A strand of the executor. Reset by the registry when the context shuts
  // down: Asio's strands must not outlive their context's services.
  asio::any_io_executor strand;
  // Set once the executor's context is shutting down: calls fail at once.
  std::atomic<bool> io_gone{false};
  std::atomic<bool> ready{false};

  // Everything below is touched on the strand only (and by the client's
  // constructor before it posts start()).
  bool started = false;
  bool stopped = false;
  std::map<std::string, std::unique_ptr<node>> nodes;
  std::vector<node*> seeds;
  std::array<node*, 16384> slots{};
  bool slots_known = false;
  bool refreshing = false;
  bool refresh_wanted = false;  // asked for while one was in flight
};

namespace {

void core_registry::shutdown() {
  std::vector<std::shared_ptr<client::core>> live;
  {
    std::lock_guard lock(mutex_);
    for (auto& w : cores_)
      if (auto c = w.lock()) live.push_back(std::move(c));
    cores_.clear();
  }
  // No thread runs the context any more: the strands may be touched here.
  for (auto& c : live) {
    c->io_gone.store(true, std::memory_order_release);
    c->abandon();
    c->strand = asio::any_io_executor();
  }
}

}  // namespace

client::client(redis_options options, std::shared_ptr<counter_set> stats) {
  options.validate();
  asio::any_io_executor ex = options.executor;
  if (!ex) {
    own_io_ = std::make_unique<asio::io_context>(1);
    ex = own_io_->get_executor();
  }
  core_ = std::make_shared<core>(options, std::move(stats), ex);
  // The connections' sockets and timers come first, so that the services
  // they use are shut down after the registry (Asio shuts services down
  // newest first).
  for (const auto& s : core_->options->servers)
    core_->seeds.push_back(&core_->node_for(s.host, s.port));
  asio::use_service<core_registry>(asio::query(ex, asio::execution::context)).add(core_);
  asio::post(core_->strand, [c = core_] { c->start(); });

  if (own_io_) {
    thread_ = std::thread([io = own_io_.get()] {
      // hiredis writes with write(2): a Redis that went away would otherwise
      // end the process with SIGPIPE (found under ASan in redis_faults).
      portcullis::detail::block_sigpipe();
      auto guard = asio::make_work_guard(*io);
      io->run();
    });
    // Named for top, gdb and the tests (15 characters at most), before the
    // constructor returns.
    pthread_setname_np(thread_.native_handle(), "pc-redis-store");
  }
}

client::~client() {
  if (own_io_) {
    // Stop every connection on the strand, failing what is in flight (the
    // replies already posted run before it), then end the thread; the
    // io_context's destruction drops what is left.
    std::promise<void> stopped;
    asio::post(core_->strand, [c = core_, &stopped] {
      c->abandon();
      stopped.set_value();
    });
    stopped.get_future().wait();
    own_io_->stop();
    thread_.join();
    own_io_.reset();
    return;
  }
  // On the caller's executor nothing may wait here (this may be one of its
  // threads). The core lives on in the posted handler until it has run; if
  // the io_context is destroyed first, the registry has stopped it.
  if (!core_->io_gone.load(std::memory_order_acquire))
    asio::post(core_->strand, [c = core_] { c->abandon(); });
}

void client::core::start() {
  if (stopped) return;
  started = true;
  for (auto& [name, n] : nodes)
    for (auto& l : n->links) l->start();
  if (options->cluster) refresh_slots();
}

void client::core::abandon() {
  stopped = true;
  ready.store(false, std::memory_order_release);
  // Taken out first: a failure handler may call back into this core.
  auto gone = std::move(nodes);
  nodes.clear();
  seeds.clear();
  slots.fill(nullptr);
  for (auto& [name, n] : gone)
    for (auto& l : n->links) l->abandon();
}

node& client::core::node_for(const std::string& host, std::uint16_t port) {
  redis_server s{host, port};
  auto& slot = nodes[s.to_string()];
  if (!slot) {
    slot = std::make_unique<node>();
    slot->server = s;
    for (unsigned i = 0; i < options->connections; ++i) {
      slot->links.push_back(std::make_shared<connection>(
          strand, s, options, stats, [weak = weak_from_this()](connection&, bool up) {
            const auto self = weak.lock();
            if (!self || self->stopped) return;
            // A lost node may mean a failover: ask the cluster again.
            if (!up && self->options->cluster) self->refresh_slots();
            self->update_ready();
          }));
      // Nodes found later (MOVED, a slot map) start here, on the strand;
      // the seeds start when the constructor's start() runs.
      if (started) slot->links.back()->start();
    }
  }
  return *slot;
}

void client::execute(std::vector<std::string> argv, std::string_view key, reply_handler done) {
  auto o = std::make_shared<op>();
  o->argv = std::move(argv);
  o->slot = key.empty() ? 0 : hash_slot(key);
  o->deadline = core_->options->time->now() + core_->options->call_timeout;
  o->done = std::move(done);
  core_->submit(std::move(o));
}

void client::core::submit(std::shared_ptr<op> o) {
  if (io_gone.load(std::memory_order_acquire))
    return o->finish(make_error_code(errc::store_unavailable), reply{});
  asio::post(strand, [self = shared_from_this(), o = std::move(o)]() mutable {
    self->dispatch(std::move(o));
  });
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
  o->deadline = core_->options->time->now() + core_->options->call_timeout;
  o->done = std::move(done);
  o->reload = &s;
  core_->submit(std::move(o));
}

void client::core::dispatch(std::shared_ptr<op> o, node* target, bool asking) {
  if (stopped) return o->finish(make_error_code(errc::store_unavailable), reply{});
  if (options->time->now() >= o->deadline) {
    stats->add(stat_id::timeouts);
    return o->finish(make_error_code(errc::store_timeout), reply{});
  }
  node* n = target;
  if (n == nullptr)
    n = options->cluster && slots_known && slots[o->slot] ? slots[o->slot] : seeds.front();
  connection* c = n->pick();
  if (c == nullptr && target == nullptr && options->cluster) {
    // The slot's owner is down: any live seed answers with MOVED if the
    // slot has moved (a failover), and the map is refreshed meanwhile.
    refresh_slots();
    for (node* s : seeds)
      if ((c = s->pick()) != nullptr) break;
  }
  if (c == nullptr) {
    return o->finish(make_error_code(errc::store_unavailable), reply{});
  }
  std::vector<std::string_view> argv(o->argv.begin(), o->argv.end());
  const auto deadline = o->deadline;
  c->send(
      argv, deadline,
      [self = shared_from_this(), o](std::error_code ec, reply r) mutable {
        self->on_result(std::move(o), ec, std::move(r));
      },
      asking);
}

void client::core::on_result(std::shared_ptr<op> o, std::error_code ec, reply r) {
  if (ec || stopped) {
    return o->finish(ec ? ec : make_error_code(errc::store_unavailable), reply{});
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
      if (host.empty() && !seeds.empty()) host = seeds.front()->server.host;  // "MOVED 1 :7001"
      if (port > 0 && port < 65536) {
        ++o->redirects;
        node& to = node_for(host, static_cast<std::uint16_t>(port));
        if (moved) {
          stats->add(stat_id::moved);
          slots[o->slot] = &to;
          slots_known = true;
          refresh_slots();
        } else {
          stats->add(stat_id::ask);
        }
        return dispatch(std::move(o), &to, !moved);
      }
    }
  }

  // A flushed script cache (SCRIPT FLUSH, a restart, a failover to a
  // replica that never saw the script): every EVALSHA in flight fails, and
  // each is run once more as EVAL, which loads the script again.
  if (r.error_is("NOSCRIPT") && o->reload != nullptr) {
    stats->add(stat_id::script_reloads);
    o->argv[0] = "EVAL";
    o->argv[1] = o->reload->source;
    o->reload = nullptr;
    return dispatch(std::move(o));
  }

  o->finish({}, std::move(r));
}

void client::core::refresh_slots() {
  // One refresh at a time. A request that arrives while one is in flight
  // is remembered and served when it completes, so that a MOVED seen during
  // a refresh (which may predate the move) still leads to a fresh map.
  if (stopped) return;
  const auto now = options->time->now();
  if (refreshing) {
    refresh_wanted = true;
    return;
  }
  connection* c = nullptr;
  node* from = nullptr;
  for (node* s : seeds)
    if ((c = s->pick()) != nullptr) {
      from = s;
      break;
    }
  if (c == nullptr)
    for (auto& [name, n] : nodes)
      if ((c = n->pick()) != nullptr) {
        from = n.get();
        break;
      }
  if (c == nullptr) return;  // retried when a connection comes up
  refreshing = true;
  static constexpr std::string_view cmd[] = {"CLUSTER", "SLOTS"};
  c->send(cmd, now + options->connect_timeout,
          [self = shared_from_this(), from = from->server](std::error_code ec, reply r) {
            self->refreshing = false;
            if (self->stopped) return;
            if (!ec && r.type == reply::kind::array) self->apply_slots(r, from);
            if (std::exchange(self->refresh_wanted, false)) self->refresh_slots();
          });
}

void client::core::apply_slots(const reply& r, const redis_server& from) {
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
  slots = fresh;
  slots_known = true;
  stats->add(stat_id::slot_refreshes);
  // Seeds that are not in the map stay as fall-backs for the next refresh.
  update_ready();
}

void client::core::update_ready() {
  bool all = !stopped && (!options->cluster || slots_known);
  if (all)
    for (auto& [name, n] : nodes)
      if (!n->ready()) all = false;
  ready.store(all, std::memory_order_release);
  if (options->cluster && !slots_known) refresh_slots();
}

// A SCAN + UNLINK over every master. Like an op, it answers exactly once,
// store_unavailable if it is dropped before it could finish.
struct scan_job {
  scan_job() = default;
  scan_job(const scan_job&) = delete;
  scan_job& operator=(const scan_job&) = delete;
  ~scan_job() {
    if (done) finish(first ? first : make_error_code(errc::store_unavailable));
  }

  void finish(std::error_code ec) { std::exchange(done, nullptr)(ec); }
  void finish_one(std::error_code ec) {
    if (ec && !first) first = ec;
    if (--outstanding == 0) finish(first);
  }

  std::string pattern;
  std::function<void(std::error_code)> done;
  std::size_t outstanding = 0;
  std::error_code first;
};

void client::scan_delete(std::string pattern, std::function<void(std::error_code)> done) {
  auto job = std::make_shared<scan_job>();
  job->pattern = std::move(pattern);
  job->done = std::move(done);
  if (core_->io_gone.load(std::memory_order_acquire))
    return job->finish(make_error_code(errc::store_unavailable));
  asio::post(core_->strand, [self = core_, job = std::move(job)] {
    // Every master once: the single server, or each node of the slot map.
    std::vector<node*> targets;
    if (self->stopped) {
      // no targets: unavailable below
    } else if (!self->options->cluster) {
      targets.push_back(self->seeds.front());
    } else if (self->slots_known) {
      for (node* n : self->slots)
        if (n != nullptr && std::find(targets.begin(), targets.end(), n) == targets.end())
          targets.push_back(n);
    }
    if (targets.empty()) return job->finish(make_error_code(errc::store_unavailable));
    job->outstanding = targets.size();
    for (node* n : targets) self->scan_step(job, n, "0");
  });
}

void client::core::scan_step(std::shared_ptr<scan_job> job, node* n, std::string cursor) {
  auto o = std::make_shared<op>();
  o->argv = {"SCAN", std::move(cursor), "MATCH", job->pattern, "COUNT", "1000"};
  o->deadline = options->time->now() + options->call_timeout;
  o->done = [self = shared_from_this(), job, n](std::error_code ec, reply r) {
    if (!ec && (r.type != reply::kind::array || r.elements.size() != 2 ||
                r.elements[1].type != reply::kind::array))
      ec = make_error_code(errc::store_protocol);
    if (ec) return job->finish_one(ec);
    for (const auto& key : r.elements[1].elements) {
      ++job->outstanding;
      auto del = std::make_shared<op>();
      del->argv = {"UNLINK", key.str};
      del->slot = hash_slot(key.str);
      del->deadline = self->options->time->now() + self->options->call_timeout;
      del->done = [job](std::error_code dec, reply dr) {
        if (!dec && dr.is_error()) dec = make_error_code(errc::store_protocol);
        job->finish_one(dec);
      };
      self->dispatch(std::move(del), n);
    }
    if (r.elements[0].str == "0") return job->finish_one({});
    self->scan_step(job, n, r.elements[0].str);
  };
  dispatch(std::move(o), n);
}

bool client::wait_ready(std::chrono::milliseconds timeout) const {
  // Polls in small steps: this is for start-up and tests, not the hot path.
  constexpr auto step = std::chrono::milliseconds(2);
  for (auto waited = std::chrono::milliseconds(0); !core_->ready.load(std::memory_order_acquire);
       waited += step) {
    if (waited >= timeout) return false;
    std::this_thread::sleep_for(step);
  }
  return true;
}

}  // namespace portcullis::redis::detail
