#include "connection.hpp"

#include "portcullis/detail/block_sigpipe.hpp"
#include "portcullis/errc.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <random>

namespace portcullis::redis::detail {

struct connection::record {
  reply_handler done;  // empty for internal commands (ASKING)
  clock::time_point deadline;
  bool finished = false;
};

std::unique_ptr<counter_set> make_stats(std::string_view instance) {
  return std::make_unique<counter_set>(
      "redis_store", instance,
      std::initializer_list<std::string_view>{
          "calls", "errors", "timeouts", "unavailable", "protocol_errors", "script_reloads",
          "moved", "ask", "slot_refreshes", "connects", "disconnects", "stalls"});
}

bool reply::error_is(std::string_view word) const noexcept {
  if (type != kind::error || !std::string_view(str).starts_with(word)) return false;
  return str.size() == word.size() || str[word.size()] == ' ';
}

namespace {

reply copy_reply(const redisReply* r) {
  reply out;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      out.type = reply::kind::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = reply::kind::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = reply::kind::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = reply::kind::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = reply::kind::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i)
        out.elements.push_back(copy_reply(r->element[i]));
      break;
    default:
      break;  // nil
  }
  return out;
}

// The error codes handlers get; replies that are Redis errors are replies.
const std::error_code unavailable = make_error_code(errc::store_unavailable);
const std::error_code timed_out = make_error_code(errc::store_timeout);

}  // namespace

connection::connection(asio::any_io_executor strand, redis_server server,
                       std::shared_ptr<const redis_options> options,
                       std::shared_ptr<counter_set> stats, state_listener on_state)
    : strand_(std::move(strand)),
      server_(std::move(server)),
      options_(std::move(options)),
      stats_(std::move(stats)),
      on_state_(std::move(on_state)),
      resolver_(strand_),
      socket_(strand_),
      timer_(strand_),
      retry_timer_(strand_) {}

connection::~connection() {
  // The owner stops the connection on the strand before letting it go;
  // this is only the last line of defence: never let Asio close hiredis's
  // fd, and never post from a destructor.
  deliver_inline_ = true;
  on_state_ = nullptr;
  if (ac_ != nullptr) redisAsyncFree(ac_);
  if (socket_.is_open()) socket_.release();
  for (record* r : pending_) delete r;
}

void connection::start() {
  if (!stopped_) return;
  stopped_ = false;
  resolve();
}

void connection::abandon() {
  deliver_inline_ = true;
  on_state_ = nullptr;
  stop();
}

void connection::stop() {
  stopped_ = true;
  resolver_.cancel();
  retry_timer_.cancel();
  timer_.cancel();
  if (ac_ != nullptr) redisAsyncFree(ac_);  // fails what is in flight
}

// -- Connecting ---------------------------------------------------------------

void connection::resolve() {
  // A literal address needs no lookup; a name is resolved by Asio, never
  // by hiredis (its getaddrinfo would block this thread).
  boost::system::error_code ec;
  const auto literal = asio::ip::make_address(server_.host, ec);
  if (!ec) {
    connect(literal);
    return;
  }
  resolver_.async_resolve(
      server_.host, std::to_string(server_.port),
      [this, self = shared_from_this()](const boost::system::error_code& rec,
                                        asio::ip::tcp::resolver::results_type results) {
        if (stopped_ || rec == asio::error::operation_aborted) return;
        if (rec || results.empty()) {
          drop("cannot resolve the host name");
          return;
        }
        connect(results.begin()->endpoint().address());
      });
}

void connection::connect(const asio::ip::address& address) {
  redisAsyncContext* ac = redisAsyncConnect(address.to_string().c_str(), server_.port);
  if (ac == nullptr || ac->err) {
    if (ac != nullptr) redisAsyncFree(ac);
    drop("cannot create a socket");
    return;
  }

  // Hand the descriptor to Asio for waiting only; hiredis keeps owning it.
  boost::system::error_code ec;
  socket_.assign(ac->c.fd, ec);
  if (ec) {
    redisAsyncFree(ac);
    drop("cannot register the socket");
    return;
  }
  ac_ = ac;
  ac->data = this;
  ac->ev.data = this;
  ac->ev.addRead = &connection::hook_add_read;
  ac->ev.delRead = &connection::hook_del_read;
  ac->ev.addWrite = &connection::hook_add_write;
  ac->ev.delWrite = &connection::hook_del_write;
  ac->ev.cleanup = &connection::hook_cleanup;
  // Setting the connect callback asks for the first write event, which is
  // how hiredis learns that the non-blocking connect finished.
  redisAsyncSetConnectCallback(ac, &connection::on_connected);

  // The connect and the handshake get connect_timeout, together.
  const auto gen = generation_;
  retry_timer_.expires_after(options_->connect_timeout);
  retry_timer_.async_wait(
      [this, self = shared_from_this(), gen](const boost::system::error_code& tec) {
        if (tec || gen != generation_ || ac_ == nullptr || ready_) return;
        drop("connect timeout");
      });
  handshake();
}

void connection::on_connected(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<connection*>(ac->data);
  if (status != REDIS_OK) return;  // hiredis frees the context next; cleanup follows
  self->last_read_ = self->options_->time->now();
  if (self->options_->password.empty() && self->options_->database == 0) {
    self->ready_ = true;
    self->failures_ = 0;
    self->stats_->add(stat_id::connects);
    asio::post(self->strand_, [self = self->shared_from_this(), gen = self->generation_] {
      if (gen == self->generation_ && self->ready_ && self->on_state_) self->on_state_(*self, true);
    });
  }
}

void connection::handshake() {
  // AUTH and SELECT are queued at once: hiredis sends them as soon as the
  // socket connects, ahead of any command, so nothing can run unauthenticated.
  std::vector<std::vector<std::string_view>> steps;
  if (!options_->password.empty()) {
    if (options_->username.empty())
      steps.push_back({"AUTH", options_->password});
    else
      steps.push_back({"AUTH", options_->username, options_->password});
  }
  const std::string db = std::to_string(options_->database);
  if (options_->database != 0) steps.push_back({"SELECT", db});
  if (steps.empty()) return;  // ready as soon as connected

  const auto gen = generation_;
  const auto deadline = options_->time->now() + options_->connect_timeout;
  const std::size_t last = steps.size() - 1;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const bool is_auth = i == 0 && !options_->password.empty();
    send(steps[i], deadline,
         [this, weak = weak_from_this(), gen, is_auth, final = i == last](std::error_code ec,
                                                                          reply r) {
           const auto self = weak.lock();
           if (!self || gen != generation_ || ac_ == nullptr) return;
           if (ec || r.is_error()) {
             // A wrong password is a configuration error: say so (never the
             // password) and keep retrying with backoff, as the server may
             // be fixed without restarting us.
             std::uint64_t held = 0;
             if (log_throttle_.allow(*options_->time, held))
               options_->log.log(log_level::error, "redis.handshake_failed",
                                 {{"server", server_.to_string()},
                                  {"step", is_auth ? "AUTH" : "SELECT"},
                                  {"reply", ec ? ec.message() : r.str},
                                  {"suppressed", held}});
             drop("handshake failed");
             return;
           }
           if (final) {
             ready_ = true;
             failures_ = 0;
             stats_->add(stat_id::connects);
             if (on_state_) on_state_(*this, true);
           }
         });
  }
}

void connection::drop(std::string_view why) {
  if (ac_ != nullptr) {
    std::uint64_t held = 0;
    if (log_throttle_.allow(*options_->time, held))
      options_->log.log(log_level::warning, "redis.connection_dropped",
                        {{"server", server_.to_string()}, {"reason", why}, {"suppressed", held}});
    // Frees the context: every pending callback runs with no reply, then
    // the cleanup hook releases the descriptor and schedules the reconnect.
    redisAsyncFree(ac_);
    return;
  }
  // No context: a failure before one existed (resolve, socket).
  std::uint64_t held = 0;
  if (log_throttle_.allow(*options_->time, held))
    options_->log.log(log_level::warning, "redis.connect_failed",
                      {{"server", server_.to_string()}, {"reason", why}, {"suppressed", held}});
  schedule_reconnect();
}

void connection::on_context_gone() {
  stats_->add(stat_id::disconnects);
  if (on_state_) on_state_(*this, false);
  if (!stopped_) schedule_reconnect();
}

void connection::schedule_reconnect() {
  if (stopped_) return;
  // Capped exponential backoff with jitter, so that many instances that
  // lost the same Redis do not come back in lockstep.
  static thread_local std::minstd_rand rng{std::random_device{}()};
  auto delay = options_->reconnect_min;
  for (unsigned i = 0; i < failures_ && delay < options_->reconnect_max; ++i) delay *= 2;
  delay = std::min(delay, options_->reconnect_max);
  delay += std::chrono::milliseconds(rng() % (delay.count() / 4 + 1));
  ++failures_;
  retry_timer_.expires_after(delay);
  retry_timer_.async_wait([this, self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || stopped_ || ac_ != nullptr) return;
    resolve();
  });
}

// -- Commands ---------------------------------------------------------------

void connection::send(std::span<const std::string_view> argv, clock::time_point deadline,
                      reply_handler done, bool asking) {
  auto fail_now = [this, &done](std::error_code ec) {
    if (deliver_inline_) return done(ec, reply{});
    asio::post(strand_, [d = std::move(done), ec]() mutable { d(ec, reply{}); });
  };
  if (stopped_ || ac_ == nullptr) return fail_now(unavailable);
  if (pending_.size() >= options_->max_in_flight) return fail_now(unavailable);

  if (asking) {
    static constexpr std::string_view asking_cmd[] = {"ASKING"};
    auto* a = new record{{}, deadline, true};
    if (!issue(a, asking_cmd)) {
      delete a;
      return fail_now(unavailable);
    }
  }
  auto* r = new record{std::move(done), deadline, false};
  if (!issue(r, argv)) {
    done = std::move(r->done);
    delete r;
    return fail_now(unavailable);
  }
  arm_timer(deadline);
  flush_if_redis_waits();
}

void connection::flush_if_redis_waits() {
  // Commands wait in hiredis's buffer for the posted write below (one
  // write for everything queued in the meantime), except when Redis would
  // sit idle meanwhile: with nothing of ours left to answer, or with a few
  // commands already waiting, they go out now. Otherwise a burst of
  // requests (all read in one turn of the loop) would reach Redis only
  // after the last of them was handled, and the server and Redis would
  // take turns instead of working side by side.
  constexpr std::size_t batch = 4;
  if (ac_ == nullptr || write_waits_for_room_ || (ac_->c.flags & REDIS_CONNECTED) == 0) return;
  if (unsent_ < batch && pending_.size() > unsent_) return;
  write_now();
}

bool connection::issue(record* r, std::span<const std::string_view> argv) {
  // Binary-safe: every argument goes with its length, nothing is formatted.
  constexpr std::size_t inline_args = 16;
  const char* ptrs_small[inline_args];
  std::size_t lens_small[inline_args];
  std::vector<const char*> ptrs_big;
  std::vector<std::size_t> lens_big;
  const char** ptrs = ptrs_small;
  std::size_t* lens = lens_small;
  if (argv.size() > inline_args) {
    ptrs_big.resize(argv.size());
    lens_big.resize(argv.size());
    ptrs = ptrs_big.data();
    lens = lens_big.data();
  }
  for (std::size_t i = 0; i < argv.size(); ++i) {
    ptrs[i] = argv[i].data();
    lens[i] = argv[i].size();
  }
  // The context may have gone since the caller looked (it is checked
  // before every call into hiredis).
  if (ac_ == nullptr) return false;
  if (redisAsyncCommandArgv(ac_, &connection::on_reply, r, static_cast<int>(argv.size()), ptrs,
                            lens) != REDIS_OK)
    return false;
  pending_.push_back(r);
  ++unsent_;
  return true;
}

void connection::on_reply(redisAsyncContext* ac, void* raw, void* privdata) {
  auto* self = static_cast<connection*>(ac->data);
  auto* r = static_cast<record*>(privdata);

  // hiredis answers in order, so this is nearly always the oldest record.
  auto& q = self->pending_;
  if (!q.empty() && q.front() == r) {
    q.pop_front();
  } else if (auto it = std::find(q.begin(), q.end(), r); it != q.end()) {
    q.erase(it);
  }

  const auto* rep = static_cast<const redisReply*>(raw);
  if (rep != nullptr) self->last_read_ = self->options_->time->now();
  if (!r->finished && r->done) {
    // Handlers run later, never inside hiredis: they may send again, and
    // hiredis refuses commands while it is freeing the context.
    std::error_code ec = rep == nullptr ? unavailable : std::error_code{};
    if (self->deliver_inline_) {
      auto d = std::move(r->done);
      delete r;
      return d(ec, rep ? copy_reply(rep) : reply{});
    }
    asio::post(self->strand_,
               [d = std::move(r->done), ec, value = rep ? copy_reply(rep) : reply{}]() mutable {
                 d(ec, std::move(value));
               });
  }
  delete r;
}

// -- Deadlines ---------------------------------------------------------------

void connection::arm_timer(clock::time_point at) {
  if (at >= timer_at_) return;
  timer_at_ = at;
  const auto delay = at - options_->time->now();
  timer_.expires_after(std::max(delay, clock::duration::zero()));
  timer_.async_wait([this, self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted || stopped_) return;
    timer_at_ = clock::time_point::max();
    on_timer();
  });
}

void connection::on_timer() {
  const auto now = options_->time->now();

  // Fail every call whose deadline passed. Its reply, if it ever comes, is
  // dropped when it arrives (hiredis cannot forget a command once sent).
  auto next = clock::time_point::max();
  bool waiting = false;
  for (record* r : pending_) {
    if (r->finished) continue;
    if (r->deadline <= now) {
      r->finished = true;
      stats_->add(stat_id::timeouts);
      asio::post(strand_, [d = std::move(r->done)]() mutable {
        if (d) d(timed_out, reply{});
      });
      continue;
    }
    waiting = true;
    next = std::min(next, r->deadline);
  }

  // A socket with work outstanding that has said nothing for stall_timeout
  // is dead (a peer that vanished without a reset); drop it.
  if (!pending_.empty() && ac_ != nullptr && now - last_read_ >= options_->stall_timeout) {
    stats_->add(stat_id::stalls);
    drop("no reply within stall_timeout");
    return;
  }
  if (!pending_.empty()) next = std::min(next, last_read_ + options_->stall_timeout);
  (void)waiting;
  if (next != clock::time_point::max()) arm_timer(next);
}

// -- hiredis event hooks -----------------------------------------------------

void connection::arm_read() {
  if (read_armed_ || ac_ == nullptr) return;
  read_armed_ = true;
  socket_.async_wait(
      asio::posix::stream_descriptor::wait_read,
      [this, self = shared_from_this(), gen = generation_](const boost::system::error_code& ec) {
        if (gen != generation_) return;  // that context is gone
        read_armed_ = false;
        if (ec || ac_ == nullptr || !want_read_) return;
        redisAsyncHandleRead(ac_);
        // hiredis may have freed the context inside that call.
        if (gen == generation_ && ac_ != nullptr && want_read_) arm_read();
      });
}

bool connection::write_now() {
  const auto gen = generation_;
  {
    // hiredis writes with write(2), not send(MSG_NOSIGNAL): a Redis that
    // went away would raise SIGPIPE on this thread, which may be the
    // application's (on its io_context), and end the process (seen when
    // the reference server's Redis was killed under load).
    portcullis::detail::sigpipe_guard guard;
    redisAsyncHandleWrite(ac_);
  }
  // hiredis may have freed the context inside that call.
  if (gen != generation_ || ac_ == nullptr) return false;
  if (!want_write_) unsent_ = 0;
  return true;
}

void connection::arm_write(bool wait_for_room) {
  if (write_armed_ || ac_ == nullptr) return;
  write_armed_ = true;
  write_waits_for_room_ = wait_for_room;
  auto flush = [this, self = shared_from_this(),
                gen = generation_](const boost::system::error_code& ec) {
    if (gen != generation_) return;
    write_armed_ = write_waits_for_room_ = false;
    if (ec || ac_ == nullptr || !want_write_) return;
    // Still something to write: the socket's buffer is full; wait for room.
    if (write_now() && want_write_) arm_write(true);
  };
  // A connected socket nearly always has room, and a wait for it costs an
  // epoll_ctl and a turn of the reactor. So write at once, from a posted
  // handler (every command queued before it runs goes out in the same
  // write), and wait only when the buffer is full or to learn that a
  // connect finished.
  if (!wait_for_room && (ac_->c.flags & REDIS_CONNECTED) != 0)
    asio::post(strand_, [flush = std::move(flush)]() mutable { flush({}); });
  else
    socket_.async_wait(asio::posix::stream_descriptor::wait_write, std::move(flush));
}

void connection::hook_add_read(void* self) {
  auto* c = static_cast<connection*>(self);
  c->want_read_ = true;
  c->arm_read();
}

void connection::hook_del_read(void* self) {
  static_cast<connection*>(self)->want_read_ = false;
}

void connection::hook_add_write(void* self) {
  auto* c = static_cast<connection*>(self);
  c->want_write_ = true;
  c->arm_write();
}

void connection::hook_del_write(void* self) {
  static_cast<connection*>(self)->want_write_ = false;
}

void connection::hook_cleanup(void* self) {
  // Called from inside redisAsyncFree, after the pending callbacks ran and
  // before hiredis closes the socket: give the descriptor back without
  // closing it, and forget the context, which is about to be freed.
  auto* c = static_cast<connection*>(self);
  if (c->socket_.is_open()) c->socket_.release();
  c->ac_ = nullptr;
  ++c->generation_;
  c->want_read_ = c->want_write_ = false;
  c->read_armed_ = c->write_armed_ = c->write_waits_for_room_ = false;
  c->unsent_ = 0;
  c->ready_ = false;
  c->retry_timer_.cancel();
  if (c->deliver_inline_) {
    // Stopped by an owner going away (or the destructor): nothing to
    // report and nothing to reconnect.
    c->stats_->add(stat_id::disconnects);
    return;
  }
  asio::post(c->strand_, [c = c->shared_from_this()] { c->on_context_gone(); });
}

}  // namespace portcullis::redis::detail
