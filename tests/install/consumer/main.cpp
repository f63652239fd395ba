// Builds a chain against the installed headers and runs one request.
#include <portcullis/portcullis.hpp>

int main() {
  portcullis::chain::builder b;
  b.route(portcullis::http::verb::get, "/",
          [](portcullis::request& req,
             portcullis::context&) -> portcullis::asio::awaitable<portcullis::response> {
            co_return portcullis::json_response(req, portcullis::http::status::ok, "{}");
          });
  auto app = std::move(b).build();
  portcullis::request req{portcullis::http::verb::get, "/", 11};
  portcullis::context ctx;
  return portcullis::run_blocking(app, req, ctx).result_int() == 200 ? 0 : 1;
}
