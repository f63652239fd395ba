// The Beast/Asio side of portcullis: request_reader over real streams, and
// server. Everything that instantiates Beast's and Asio's I/O templates
// lives in this one file, so that it is compiled once.
#include "portcullis/server.hpp"

#include "portcullis/request_reader.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace portcullis {
namespace {

namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

inline auto use_ec(error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

// The TCP socket under any of the supported streams.
tcp::socket& raw_socket(tcp::socket& s) noexcept {
  return s;
}
tcp::socket& raw_socket(beast::tcp_stream& s) noexcept {
  return s.socket();
}
template <typename Next>
tcp::socket& raw_socket(ssl::stream<Next>& s) noexcept {
  return raw_socket(s.next_layer());
}

template <typename Stream>
constexpr bool is_tls = false;
template <typename Next>
constexpr bool is_tls<ssl::stream<Next>> = true;

// How long a TLS close waits for the peer's close_notify (RFC 8446 §6.1)
// at most, whatever the write timeout.
constexpr std::chrono::milliseconds tls_close_notify_wait = std::chrono::seconds(1);

clock::time_point real_now() noexcept {
  return system_clock().now();
}

// A refusal as a response: JSON, HTTP/1.1, Connection: close.
response rejection_response(const rejection& r) {
  request dummy{http::verb::get, "/", 11};
  auto res = error_response(dummy, r.status, r.message);
  res.keep_alive(false);
  return res;
}

}  // namespace

// ---------------------------------------------------------------------------
// request_reader

struct request_reader::impl {
  explicit impl(read_options o) : opt(o), parser(o.header_limit) {
    capacity = opt.header_limit + 16 * 1024;
  }

  read_options opt;
  request_parser parser;

  // Bytes read but not yet parsed live in [begin, end) of buffer(): `small`
  // while they fit, `storage` (header limit + 16 KiB) once a request needs
  // more. storage is freed before each idle wait, so that an idle
  // keep-alive connection holds `small` only, not the large buffer.
  static constexpr std::size_t small_size = 2048;
  std::array<char, small_size> small;
  std::unique_ptr<char[]> storage;
  std::size_t capacity = 0;
  std::size_t begin = 0;
  std::size_t end = 0;

  // The watchdog: when `deadline` passes, `socket` has its operations
  // cancelled. The timer waits for its own expiry, which is never later
  // than `deadline`; extending the deadline costs nothing, shortening it
  // re-arms the timer.
  std::optional<asio::steady_timer> timer;
  tcp::socket* socket = nullptr;
  clock::time_point deadline = clock::time_point::max();
  bool fired = false;
  bool stopped = false;
  bool waiting_idle = false;

  char* buffer() noexcept { return storage ? storage.get() : small.data(); }
  const char* buffer() const noexcept { return storage ? storage.get() : small.data(); }
  std::size_t buffer_size() const noexcept {
    return storage ? capacity : std::min(capacity, small_size);
  }

  std::string_view pending() const noexcept { return {buffer() + begin, end - begin}; }

  void consume(std::size_t n) noexcept {
    begin += n;
    if (begin == end) begin = end = 0;
  }

  // Space to read into: pending bytes move to the front when the buffer is
  // full, and to storage when `small` is full of them.
  asio::mutable_buffer space() {
    if (end == buffer_size() && begin > 0) {
      std::memmove(buffer(), buffer() + begin, end - begin);
      end -= begin;
      begin = 0;
    }
    if (end == buffer_size() && !storage && capacity > small_size) {
      storage = std::make_unique<char[]>(capacity);
      std::memcpy(storage.get(), small.data(), end);
    }
    return {buffer() + end, buffer_size() - end};
  }

  // Before an idle wait: nothing pending, so the large buffer can go.
  void shrink() noexcept {
    if (begin == end) storage.reset();
  }

  template <typename Stream>
  void watch(Stream& stream) {
    if (timer) return;
    socket = &raw_socket(stream);
    timer.emplace(stream.get_executor(), clock::time_point::max());
    asio::co_spawn(stream.get_executor(), run_watchdog(self()), asio::detached);
  }

  void arm(clock::time_point when) {
    deadline = when;
    fired = false;
    if (timer && when < timer->expiry()) timer->expires_at(when);  // wakes the watchdog
  }

  static asio::awaitable<void> run_watchdog(std::shared_ptr<impl> self) {
    for (;;) {
      error_code ec;
      co_await self->timer->async_wait(use_ec(ec));
      if (self->stopped) co_return;
      if (self->deadline <= real_now()) {
        self->fired = true;
        self->deadline = clock::time_point::max();
        if (self->socket != nullptr) self->socket->cancel(ec);
      }
      self->timer->expires_at(self->deadline);
    }
  }

  std::shared_ptr<impl> self();
  std::weak_ptr<impl> weak;
};

std::shared_ptr<request_reader::impl> request_reader::impl::self() {
  return weak.lock();
}

request_reader::request_reader(read_options options) {
  if (options.header_limit == 0)
    throw config_error(
        "request_reader: header_limit is 0; give the largest header in bytes "
        "(8192 is usual)");
  auto positive = [](std::chrono::milliseconds d, const char* name) {
    if (d.count() <= 0)
      throw config_error(std::string("request_reader: ") + name +
                         " must be positive; give a duration such as std::chrono::seconds(10)");
  };
  positive(options.idle_timeout, "idle_timeout");
  positive(options.header_timeout, "header_timeout");
  positive(options.body_timeout, "body_timeout");
  positive(options.write_timeout, "write_timeout");
  if (options.time == nullptr) options.time = &system_clock();
  impl_ = std::make_shared<impl>(options);
  impl_->weak = impl_;
}

request_reader::~request_reader() {
  if (!impl_) return;
  impl_->stopped = true;
  impl_->socket = nullptr;
  if (impl_->timer) impl_->timer->cancel();
}

const read_options& request_reader::options() const noexcept {
  return impl_->opt;
}
bool request_reader::timed_out() const noexcept {
  return impl_->fired;
}
bool request_reader::idle() const noexcept {
  return impl_->waiting_idle;
}
void request_reader::disarm() noexcept {
  impl_->deadline = clock::time_point::max();
}

void request_reader::cancel() noexcept {
  error_code ec;
  if (impl_->socket != nullptr) impl_->socket->cancel(ec);
}

template <typename Stream>
void request_reader::expires_after(Stream& stream, std::chrono::milliseconds d) {
  impl_->watch(stream);
  impl_->arm(real_now() + d);
}

template <typename Stream>
asio::awaitable<read_result> request_reader::read(Stream& stream) {
  auto& st = *impl_;
  st.watch(stream);
  auto& p = st.parser;
  p.reset();
  read_result out;
  error_code ec;

  auto refuse = [&](const rejection& r) {
    st.deadline = clock::time_point::max();
    out.what = read_result::rejected;
    out.reason = r.reason;
    out.rejection = rejection_response(r);
  };

  // Between requests: wait for a first byte within the idle timeout. A
  // pipelined request may already be waiting in the buffer.
  if (st.pending().empty()) {
    st.shrink();
    st.arm(real_now() + st.opt.idle_timeout);
    st.waiting_idle = true;
    std::size_t n = co_await stream.async_read_some(st.space(), use_ec(ec));
    st.waiting_idle = false;
    if (ec) {
      st.deadline = clock::time_point::max();
      if (st.fired)
        out.reason = errc::timeout;
      else if (ec == asio::error::operation_aborted)
        out.reason = errc::cancelled;
      co_return out;
    }
    st.end += n;
  }
  out.started = st.opt.time->now();
  st.arm(real_now() + st.opt.header_timeout);

  for (;;) {
    std::size_t used = 0;
    auto r = p.parse(st.pending(), used);
    st.consume(used);

    switch (r) {
      case parse_result::header_done: {
        const auto& req = p.get();
        std::uint64_t limit = st.opt.routes != nullptr
                                  ? st.opt.routes->body_limit_for(req.method(), req.target())
                                  : st.opt.body_limit;
        if (!p.accept_body(limit)) {
          refuse(p.error());
          out.req = req;  // the header, for the chain's decorate_refusal()
          co_return out;
        }
        if (p.done()) continue;
        // 100 Continue only now that the limits have passed, and only when
        // the client is actually waiting for it (RFC 9110 §10.1.1).
        if (p.expects_continue() && st.pending().empty()) {
          static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
          st.arm(real_now() + st.opt.write_timeout);
          co_await asio::async_write(stream, asio::buffer(go_on.data(), go_on.size()), use_ec(ec));
          if (ec) {
            st.deadline = clock::time_point::max();
            co_return out;
          }
        }
        st.arm(real_now() + st.opt.body_timeout);
        continue;
      }
      case parse_result::complete:
        st.deadline = clock::time_point::max();
        out.what = read_result::request;
        out.req = p.release();
        co_return out;
      case parse_result::rejected:
        refuse(p.error());
        co_return out;
      case parse_result::need_more:
        break;
    }

    auto space = st.space();
    if (space.size() == 0) {
      // The parser bounds what it leaves unused well below the buffer;
      // this is a guard, not a path.
      refuse({http::status::request_header_fields_too_large, errc::header_too_large,
              "request header too large"});
      co_return out;
    }
    std::size_t n = co_await stream.async_read_some(space, use_ec(ec));
    if (ec) {
      if (st.fired) {
        refuse({http::status::request_timeout, errc::timeout, "request timeout"});
      } else {
        st.deadline = clock::time_point::max();
        if (ec == asio::error::operation_aborted) out.reason = errc::cancelled;
      }
      co_return out;
    }
    st.end += n;
  }
}

template <typename Stream>
asio::awaitable<bool> request_reader::write(Stream& stream, response& res, bool header_only) {
  auto& st = *impl_;
  st.watch(stream);
  st.arm(real_now() + st.opt.write_timeout);
  error_code ec;
  if (header_only) {
    http::response_serializer<http::string_body> sr{res};
    co_await http::async_write_header(stream, sr, use_ec(ec));
  } else {
    co_await http::async_write(stream, res, use_ec(ec));
  }
  st.deadline = clock::time_point::max();
  co_return !ec;
}

template <typename Stream>
asio::awaitable<void> request_reader::close(Stream& stream, bool linger) {
  auto& st = *impl_;
  st.watch(stream);
  error_code ec;
  auto& sock = raw_socket(stream);

  if constexpr (is_tls<Stream>) {
    // async_shutdown sends our close_notify and then waits for the peer's.
    // A peer that never sends one (most clients just close, and a hostile
    // one stays silent) would hold the connection for the whole write
    // timeout: the wait is capped, after which the socket is closed.
    st.arm(real_now() +
           std::min<std::chrono::milliseconds>(st.opt.write_timeout, tls_close_notify_wait));
    co_await stream.async_shutdown(use_ec(ec));
  } else {
    sock.shutdown(tcp::socket::shutdown_send, ec);
    if (linger && sock.is_open()) {
      // Read what the client is still sending, so that closing with unread
      // data does not reset the connection before it has read our answer.
      st.arm(real_now() + std::chrono::seconds(1));
      std::size_t drained = 0;
      char sink[4096];
      while (drained < 64 * 1024) {
        std::size_t n = co_await sock.async_read_some(asio::buffer(sink), use_ec(ec));
        if (ec) break;
        drained += n;
      }
    }
  }
  st.deadline = clock::time_point::max();
  st.stopped = true;
  st.socket = nullptr;
  if (st.timer) st.timer->cancel();
  sock.close(ec);
}

// The supported streams.
#define PORTCULLIS_READER_STREAM(S)                                             \
  template asio::awaitable<read_result> request_reader::read<S>(S&);            \
  template asio::awaitable<bool> request_reader::write<S>(S&, response&, bool); \
  template asio::awaitable<void> request_reader::close<S>(S&, bool);            \
  template void request_reader::expires_after<S>(S&, std::chrono::milliseconds);
PORTCULLIS_READER_STREAM(tcp::socket)
PORTCULLIS_READER_STREAM(beast::tcp_stream)
PORTCULLIS_READER_STREAM(ssl::stream<tcp::socket>)
PORTCULLIS_READER_STREAM(ssl::stream<beast::tcp_stream>)
#undef PORTCULLIS_READER_STREAM

// ---------------------------------------------------------------------------
// server

namespace {

enum server_counter : std::size_t {
  c_accepted,
  c_rejected_connections,
  c_requests,
  c_bad_framing,
  c_header_too_large,
  c_body_too_large,
  c_timeouts,
  c_idle_closed,
  c_tls_handshake_failures,
  c_handler_errors,
  c_drain_forced,
};

// Something the server can ask to stop, on its own strand.
class session_base {
 public:
  virtual ~session_base() = default;
  // Gracefully: close when idle, else after the current answer. Forced:
  // cancel whatever it is doing.
  virtual void stop(bool force) = 0;
};

}  // namespace

struct server::impl {
  impl(chain a, server_options o);

  void start();
  void begin_stop();
  void join();
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> drain();
  bool admit(const ip_address& peer);
  void release(const ip_address& peer, session_base* s);

  template <typename Stream>
  asio::awaitable<void> serve(std::shared_ptr<session_base> self, Stream& stream,
                              request_reader& reader, ip_address peer, const bool& stop_flag);

  chain app;
  server_options opt;
  const clock* time;
  counter_set counters;
  unsigned thread_count = 1;
  // Published last by start() (release): a thread that reads a port from
  // port() also sees the I/O threads started (run() on one thread, port()
  // and stop() on another).
  std::atomic<unsigned short> bound_port{0};

  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};

  // Open connections: the registry for shutdown and the per-client caps.
  std::mutex mutex;
  std::map<ip_address, std::size_t> per_client;
  std::unordered_map<session_base*, std::weak_ptr<session_base>> sessions;
  std::size_t open = 0;
  log_throttle cap_warning{std::chrono::seconds(10)};

  // join() is done once, by whoever comes first.
  std::mutex join_mutex;
  bool joined = false;

  // Declared last, destroyed first: the io_context's destructor destroys
  // the sessions' coroutine frames, which still reach the registry above.
  std::optional<ssl::context> tls;
  asio::io_context ioc;
  asio::strand<asio::io_context::executor_type> accept_strand{asio::make_strand(ioc)};
  tcp::acceptor acceptor{accept_strand};
  std::optional<asio::signal_set> signals;
  std::vector<std::thread> threads;
};

namespace {

template <typename Stream>
class session final : public session_base, public std::enable_shared_from_this<session<Stream>> {
 public:
  template <typename... Args>
  session(server::impl& srv, read_options ro, ip_address peer, Args&&... args)
      : srv_(srv), stream_(std::forward<Args>(args)...), reader_(ro), peer_(peer) {}

  ~session() override { srv_.release(peer_, this); }

  void start() {
    asio::co_spawn(raw_socket(stream_).get_executor(), run(this->shared_from_this()),
                   asio::detached);
  }

  void stop(bool force) override {
    asio::post(raw_socket(stream_).get_executor(), [self = this->shared_from_this(), force] {
      self->stopping_ = true;
      if (force || self->reader_.idle()) {
        self->reader_.cancel();
        if (force) {
          error_code ec;
          raw_socket(self->stream_).close(ec);
        }
      }
    });
  }

 private:
  static asio::awaitable<void> run(std::shared_ptr<session> self) {
    co_await self->srv_.serve(self, self->stream_, self->reader_, self->peer_, self->stopping_);
  }

  server::impl& srv_;
  Stream stream_;
  request_reader reader_;
  ip_address peer_;
  bool stopping_ = false;
};

read_options reader_options(const server_options& o, const chain& app, const clock* time) {
  read_options r;
  r.header_limit = o.header_limit;
  r.routes = &app;
  r.idle_timeout = o.idle_timeout;
  r.header_timeout = o.header_timeout;
  r.body_timeout = o.body_timeout;
  r.write_timeout = o.write_timeout;
  r.time = time;
  return r;
}

std::string_view reason_name(const std::error_code& ec) {
  switch (static_cast<errc>(ec.value())) {
    case errc::header_too_large:
      return "header_too_large";
    case errc::body_too_large:
      return "body_too_large";
    case errc::timeout:
      return "timeout";
    default:
      return "bad_framing";
  }
}

}  // namespace

server::impl::impl(chain a, server_options o)
    : app(std::move(a)),
      opt(std::move(o)),
      time(opt.time != nullptr ? opt.time : &system_clock()),
      counters("server", opt.name,
               {"accepted", "rejected_connections", "requests", "bad_framing", "header_too_large",
                "body_too_large", "timeouts", "idle_closed", "tls_handshake_failures",
                "handler_errors", "drain_forced"}),
      ioc(static_cast<int>(opt.threads == 0 ? std::max(1u, std::thread::hardware_concurrency())
                                            : opt.threads)) {
  thread_count = opt.threads == 0 ? std::max(1u, std::thread::hardware_concurrency()) : opt.threads;

  if (opt.tls) {
    tls.emplace(ssl::context::tls_server);
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                     ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
    try {
      tls->use_certificate_chain_file(opt.tls->certificate_file);
    } catch (const std::exception& e) {
      throw config_error("server: tls.certificate_file '" + opt.tls->certificate_file +
                         "' cannot be loaded (" + e.what() +
                         "); give a readable PEM certificate chain");
    }
    try {
      tls->use_private_key_file(opt.tls->private_key_file, ssl::context::pem);
    } catch (const std::exception& e) {
      throw config_error("server: tls.private_key_file '" + opt.tls->private_key_file +
                         "' cannot be loaded (" + e.what() + "); give a readable PEM private key");
    }
    if (SSL_CTX_check_private_key(tls->native_handle()) != 1)
      throw config_error(
          "server: tls.private_key_file does not match tls.certificate_file; "
          "give the key of that certificate");
  }
}

namespace detail {

ip_address connection_cap_key(const ip_address& peer) noexcept {
  const ip_address a = unmap(peer);
  if (!a.is_v6()) return a;
  auto bytes = a.to_v6().to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), std::uint8_t{0});
  return asio::ip::address_v6(bytes);
}

}  // namespace detail

bool server::impl::admit(const ip_address& peer) {
  std::lock_guard lock(mutex);
  if (open >= opt.max_connections) return false;
  auto& n = per_client[detail::connection_cap_key(peer)];
  if (n >= opt.max_connections_per_client) return false;
  ++n;
  ++open;
  return true;
}

void server::impl::release(const ip_address& peer, session_base* s) {
  std::lock_guard lock(mutex);
  sessions.erase(s);
  auto it = per_client.find(detail::connection_cap_key(peer));
  if (it != per_client.end() && --it->second == 0) per_client.erase(it);
  --open;
}

void server::impl::start() {
  auto addr = parse_address(opt.address);
  tcp::endpoint ep{*addr, opt.port};
  error_code ec;
  auto check = [&](const char* step) {
    if (ec)
      throw std::system_error(static_cast<std::error_code>(ec),
                              "server: cannot " + std::string(step) + " " + opt.address + ":" +
                                  std::to_string(opt.port));
  };
  acceptor.open(ep.protocol(), ec);
  check("open a socket for");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ep.address().is_v6()) acceptor.set_option(asio::ip::v6_only(false), ec);
  acceptor.bind(ep, ec);
  check("bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  check("listen on");
  const unsigned short port = acceptor.local_endpoint().port();

  asio::co_spawn(accept_strand, accept_loop(), asio::detached);
  if (opt.handle_signals) {
    signals.emplace(accept_strand, SIGINT, SIGTERM);
    signals->async_wait([this](const error_code& ec, int) {
      if (!ec) begin_stop();
    });
  }
  if (opt.log.enabled(log_level::info))
    opt.log.log(log_level::info, "server.started",
                {{"name", opt.name},
                 {"address", opt.address},
                 {"port", port},
                 {"threads", thread_count},
                 {"tls", opt.tls.has_value()}});
  threads.reserve(thread_count);
  for (unsigned i = 0; i < thread_count; ++i) threads.emplace_back([this] { ioc.run(); });
  bound_port.store(port, std::memory_order_release);
}

asio::awaitable<void> server::impl::accept_loop() {
  for (;;) {
    tcp::socket sock{asio::make_strand(ioc)};
    error_code ec;
    co_await acceptor.async_accept(sock, use_ec(ec));
    if (stopping.load() || ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors, most likely: wait a moment rather than spin.
      std::uint64_t held = 0;
      if (opt.log.enabled(log_level::warning) && cap_warning.allow(system_clock(), held))
        opt.log.log(log_level::warning, "server.accept_failed",
                    {{"error", ec.message()}, {"suppressed", held}});
      asio::steady_timer pause{acceptor.get_executor(), std::chrono::milliseconds(50)};
      co_await pause.async_wait(use_ec(ec));
      continue;
    }

    auto peer = unmap(sock.remote_endpoint(ec).address());
    if (ec || !admit(peer)) {
      counters.add(c_rejected_connections);
      std::uint64_t held = 0;
      if (opt.log.enabled(log_level::warning) && cap_warning.allow(system_clock(), held))
        opt.log.log(log_level::warning, "server.connection_refused",
                    {{"peer", peer.to_string()},
                     {"hint",
                      "the connection cap was reached (max_connections, "
                      "max_connections_per_client)"},
                     {"suppressed", held}});
      sock.close(ec);
      continue;
    }
    counters.add(c_accepted);
    sock.set_option(tcp::no_delay(true), ec);

    // Registered before it starts, so that it is never missing from the
    // registry while it runs.
    auto ro = reader_options(opt, app, time);
    auto launch = [&](auto t) {
      {
        std::lock_guard lock(mutex);
        sessions.emplace(t.get(), t);
      }
      t->start();
    };
    if (tls)
      launch(std::make_shared<session<ssl::stream<tcp::socket>>>(*this, ro, peer, std::move(sock),
                                                                 *tls));
    else
      launch(std::make_shared<session<tcp::socket>>(*this, ro, peer, std::move(sock)));
  }
}

template <typename Stream>
asio::awaitable<void> server::impl::serve(std::shared_ptr<session_base>, Stream& stream,
                                          request_reader& reader, ip_address peer,
                                          const bool& stop_flag) {
  if constexpr (is_tls<Stream>) {
    reader.expires_after(stream, opt.header_timeout);
    error_code ec;
    co_await stream.async_handshake(ssl::stream_base::server, use_ec(ec));
    reader.disarm();
    if (ec) {
      counters.add(c_tls_handshake_failures);
      if (opt.log.enabled(log_level::debug))
        opt.log.log(log_level::debug, "server.tls_handshake_failed",
                    {{"peer", peer.to_string()}, {"error", ec.message()}});
      raw_socket(stream).close(ec);
      co_return;
    }
  }

  while (!stop_flag) {
    auto r = co_await reader.read(stream);
    if (r.what == read_result::closed) {
      if (r.reason == errc::timeout) counters.add(c_idle_closed);
      break;
    }
    if (r.what == read_result::rejected) {
      auto which = reason_name(r.reason);
      counters.add(which == "header_too_large" ? c_header_too_large
                   : which == "body_too_large" ? c_body_too_large
                   : which == "timeout"        ? c_timeouts
                                               : c_bad_framing);
      if (opt.log.enabled(log_level::debug))
        opt.log.log(log_level::debug, "server.request_refused",
                    {{"peer", peer.to_string()},
                     {"status", static_cast<unsigned>(r.rejection.result_int())},
                     {"reason", which}});
      // A refusal after the header (413): the chain's layers add what they
      // put on every answer (the CORS grant, security headers), so that a
      // browser page can read why its upload failed.
      if (r.req.method() != http::verb::unknown) {
        context ctx{peer, is_tls<Stream>, *time};
        app.decorate_refusal(r.req, ctx, r.rejection);
      }
      if (co_await reader.write(stream, r.rejection)) {
        co_await reader.close(stream, true);
      } else {
        error_code ec;
        raw_socket(stream).close(ec);
      }
      co_return;
    }

    counters.add(c_requests);
    context ctx{peer, is_tls<Stream>, *time};
    ctx.deadline = r.started + opt.request_timeout;
    const bool head = r.req.method() == http::verb::head;
    bool keep = r.req.keep_alive();
    response res;
    try {
      res = co_await app.handle(r.req, ctx);
    } catch (const std::exception& e) {
      // The chain's error_handler normally turns exceptions into answers;
      // this is the last line for chains that have none.
      counters.add(c_handler_errors);
      if (opt.log.enabled(log_level::error))
        opt.log.log(log_level::error, "server.handler_exception",
                    {{"request_id", ctx.request_id}, {"what", e.what()}});
      res = error_response(r.req, http::status::internal_server_error, "internal server error");
      keep = false;
    }

    keep = keep && res.keep_alive() && !stop_flag && !stopping.load(std::memory_order_relaxed);
    res.keep_alive(keep);
    if (!res.has_content_length() && !res.chunked() && res.result_int() >= 200 &&
        res.result() != http::status::no_content && res.result() != http::status::not_modified)
      res.prepare_payload();
    if (!co_await reader.write(stream, res, head) || !keep) break;
  }
  co_await reader.close(stream, false);
}

void server::impl::begin_stop() {
  if (stopping.exchange(true)) return;
  asio::co_spawn(accept_strand, drain(), asio::detached);
}

asio::awaitable<void> server::impl::drain() {
  error_code ec;
  acceptor.close(ec);
  if (signals) signals->cancel(ec);
  if (opt.log.enabled(log_level::info))
    opt.log.log(log_level::info, "server.stopping", {{"name", opt.name}});

  auto each = [this](bool force) {
    std::vector<std::shared_ptr<session_base>> live;
    {
      std::lock_guard lock(mutex);
      for (auto& [_, w] : sessions)
        if (auto s = w.lock()) live.push_back(std::move(s));
    }
    for (auto& s : live) s->stop(force);
    return live.size();
  };
  auto remaining = [this] {
    std::lock_guard lock(mutex);
    return open;
  };

  // Idle connections close now; busy ones after their current answer.
  each(false);
  asio::steady_timer tick{accept_strand};
  const auto until = real_now() + opt.drain_timeout;
  while (remaining() > 0 && real_now() < until) {
    tick.expires_after(std::chrono::milliseconds(10));
    co_await tick.async_wait(use_ec(ec));
  }
  if (auto left = remaining(); left > 0) {
    counters.add(c_drain_forced, left);
    each(true);
    const auto grace = real_now() + std::chrono::seconds(1);
    while (remaining() > 0 && real_now() < grace) {
      tick.expires_after(std::chrono::milliseconds(10));
      co_await tick.async_wait(use_ec(ec));
    }
  }
  if (opt.log.enabled(log_level::info))
    opt.log.log(log_level::info, "server.stopped", {{"name", opt.name}});
  ioc.stop();
}

void server::impl::join() {
  std::lock_guard lock(join_mutex);
  if (joined) return;
  for (auto& t : threads)
    if (t.joinable()) t.join();
  joined = true;
}

// ---------------------------------------------------------------------------

namespace {

void check_options(const server_options& options) {
  auto bad = [](const std::string& what) { throw config_error("server: " + what); };
  if (!parse_address(options.address))
    bad("address '" + options.address +
        "' is not an IP address; give a literal such as 127.0.0.1, 0.0.0.0 or ::");
  if (options.threads > 1024)
    bad("threads is " + std::to_string(options.threads) +
        "; give 0 (one per core) or a number up to 1024");
  if (options.header_limit < 256 || options.header_limit > (1u << 20))
    bad("header_limit is " + std::to_string(options.header_limit) +
        " bytes; give a value between 256 and 1048576 (8192 is usual)");
  auto positive = [&](std::chrono::milliseconds d, const char* name) {
    if (d.count() <= 0)
      bad(std::string(name) +
          " must be positive; give a duration such as std::chrono::seconds(10)");
  };
  positive(options.header_timeout, "header_timeout");
  positive(options.body_timeout, "body_timeout");
  positive(options.idle_timeout, "idle_timeout");
  positive(options.request_timeout, "request_timeout");
  positive(options.write_timeout, "write_timeout");
  positive(options.drain_timeout, "drain_timeout");
  if (options.max_connections == 0) bad("max_connections is 0; give at least 1 (10000 is usual)");
  if (options.max_connections_per_client == 0 ||
      options.max_connections_per_client > options.max_connections)
    bad("max_connections_per_client must be between 1 and max_connections (" +
        std::to_string(options.max_connections) + ")");
  if (options.tls &&
      (options.tls->certificate_file.empty() || options.tls->private_key_file.empty()))
    bad("tls needs both certificate_file and private_key_file");
}

}  // namespace

server::server(chain app, server_options options) {
  check_options(options);
  impl_ = std::make_unique<impl>(std::move(app), std::move(options));
}

server::server(server_options options,
               const std::function<chain(const asio::any_io_executor&)>& make_app) {
  check_options(options);
  if (!make_app)
    throw config_error("server: make_app is empty; give a function that builds the chain");
  impl_ = std::make_unique<impl>(chain::builder{}.build(), std::move(options));
  impl_->app = make_app(impl_->ioc.get_executor());
}

server::~server() {
  if (impl_) stop();
}

void server::start() {
  if (impl_->started.exchange(true)) return;
  try {
    impl_->start();
  } catch (...) {
    error_code ec;
    impl_->acceptor.close(ec);
    impl_->started = false;
    throw;
  }
}

unsigned short server::port() const noexcept {
  return impl_->bound_port.load(std::memory_order_acquire);
}

void server::run() {
  start();
  impl_->join();
}

void server::stop() {
  if (!impl_->started.load()) return;
  impl_->begin_stop();
  // From one of our own threads only begin: joining would wait for itself.
  for (const auto& t : impl_->threads)
    if (t.get_id() == std::this_thread::get_id()) return;
  impl_->join();
}

const counter_set& server::counters() const noexcept {
  return impl_->counters;
}

}  // namespace portcullis
