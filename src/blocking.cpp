#include "portcullis/blocking.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <optional>

namespace portcullis {

response run_blocking(const chain& c, request& req, context& ctx) {
  thread_local asio::io_context ioc{1};
  std::optional<response> result;
  std::exception_ptr error;

  asio::co_spawn(ioc, c.handle(req, ctx), [&](std::exception_ptr e, response res) {
    if (e) {
      error = e;
    } else {
      result.emplace(std::move(res));
    }
  });
  ioc.restart();
  ioc.run();

  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

}  // namespace portcullis
