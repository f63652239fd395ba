// The measured side of the server benchmark: portcullis::server with an
// empty chain (no middleware) and one route answering the same small JSON
// as the plain Beast server. Usage: bench_portcullis_server PORT THREADS
#include "portcullis/server.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>

int main(int argc, char** argv) {
  using namespace portcullis;
  if (argc != 3) {
    std::cerr << "usage: bench_portcullis_server PORT THREADS\n";
    return 2;
  }
  chain::builder b;
  b.route(http::verb::get, "/", [](request& req, context&) -> asio::awaitable<response> {
    co_return json_response(req, http::status::ok, R"({"status":"ok"})");
  });
  server srv{std::move(b).build(),
             {.port = static_cast<unsigned short>(std::atoi(argv[1])),
              .threads = static_cast<unsigned>(std::max(1, std::atoi(argv[2]))),
              .log = logger{std::make_shared<json_lines_sink>(), log_level::warning}}};
  srv.run();
}
