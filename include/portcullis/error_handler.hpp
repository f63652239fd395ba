// portcullis/error_handler.hpp — exceptions become a 500 that leaks nothing.
//
// Put it first in the chain, so that it stands around everything else:
//
//     b.use(std::make_shared<portcullis::error_handler>(
//         portcullis::error_handler_options{.log = my_logger}));
//
// Any exception from below becomes
//
//     500 {"error":"internal server error","request_id":"k3v..."}
//
// The client never sees what(), a type name, a stack, SQL or a path; the
// log gets the request id, the exception's type and what(), so the two can
// be matched. In development mode (never in production) the body also
// carries `detail` with what().
#pragma once

#include "portcullis/log.hpp"
#include "portcullis/middleware.hpp"

#include <string>

namespace portcullis {

struct error_handler_options {
  /// Adds what() to the body as `detail`. For local development only.
  bool development = false;
  /// Where exceptions are logged (at error level).
  logger log;
  /// The instance name in counters.
  std::string name = "errors";
};

/// Counters: `exceptions` (caught and answered with 500).
class error_handler final : public middleware {
 public:
  explicit error_handler(error_handler_options options = {});

  asio::awaitable<response> handle(request& req, context& ctx, next_handler next) const override;
  const counter_set* counters() const noexcept override { return &counters_; }

 private:
  error_handler_options options_;
  mutable counter_set counters_;
};

}  // namespace portcullis
