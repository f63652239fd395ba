// sync_server — a plain synchronous Beast server (one thread per
// connection, blocking reads and writes) that runs a portcullis chain with
// run_blocking(). For services that do not use coroutines.
//
//   sync_server [PORT]      (default 8081; 0 lets the OS choose)
//
// It prints `listening on http://127.0.0.1:PORT`, then serves until killed.
// Reading is the caller's job here: this example sets Beast's header and
// body limits itself; portcullis::server does much more (deadlines,
// framing checks, connection caps), so prefer it where you can.
#include <portcullis/blocking.hpp>
#include <portcullis/chain.hpp>
#include <portcullis/error_handler.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <cstdio>
#include <thread>

namespace pc = portcullis;
namespace http = pc::http;
using tcp = boost::asio::ip::tcp;

namespace {

pc::chain make_app() {
  pc::chain::builder b;
  b.use(std::make_shared<pc::error_handler>());
  b.route(http::verb::get, "/hello",
          [](pc::request& req, pc::context& ctx) -> pc::asio::awaitable<pc::response> {
            co_return pc::json_response(req, http::status::ok,
                                        R"({"hello":")" + ctx.client_address.to_string() + R"("})");
          });
  return std::move(b).build();
}

void serve(tcp::socket socket, const pc::chain& app) {
  boost::beast::flat_buffer buffer;
  boost::system::error_code ec;
  auto peer = socket.remote_endpoint(ec).address();
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(8 * 1024);
    parser.body_limit(app.body_limit_for(http::verb::post, "/"));
    http::read(socket, buffer, parser, ec);
    if (ec) return;  // closed, or a request over the limits: drop it
    pc::request req = parser.release();
    pc::context ctx{peer};
    pc::response res = pc::run_blocking(app, req, ctx);
    http::write(socket, res, ec);
    if (ec || !res.keep_alive()) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = argc > 1 ? static_cast<unsigned short>(std::atoi(argv[1])) : 8081;
  boost::asio::io_context ioc;
  tcp::acceptor acceptor{ioc, {boost::asio::ip::make_address("127.0.0.1"), port}};
  std::printf("listening on http://127.0.0.1:%u\n", acceptor.local_endpoint().port());
  std::fflush(stdout);
  const pc::chain app = make_app();
  for (;;) {
    tcp::socket socket{ioc};
    acceptor.accept(socket);
    std::thread{[s = std::move(socket), &app]() mutable { serve(std::move(s), app); }}.detach();
  }
}
