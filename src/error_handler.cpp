#include "portcullis/error_handler.hpp"

#include <exception>
#include <typeinfo>

namespace portcullis {

error_handler::error_handler(error_handler_options options)
    : options_(std::move(options)), counters_("error_handler", options_.name, {"exceptions"}) {}

namespace {

// The 500 for an exception from the rest of the chain, after logging it.
// A plain function, so that handle()'s frame (live on every request) holds
// none of this.
response failure(const error_handler_options& options, counter_set& counters, const request& req,
                 const context& ctx, std::exception_ptr error) {
  std::string what;
  std::string type;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    what = e.what();
    type = typeid(e).name();
  } catch (...) {
    what = "a non-standard exception";
    type = "unknown";
  }

  // Log first, with the request id, so that the 500 can be traced.
  counters.add(0);
  options.log.log(log_level::error, "request.exception",
                  {{"request_id", ctx.request_id},
                   {"method", http::to_string(req.method())},
                   {"route", ctx.route_pattern},
                   {"type", type},
                   {"what", what}});

  nlohmann::json details;
  details["request_id"] = ctx.request_id;
  if (options.development) details["detail"] = what;
  auto res = ctx.error(req, http::status::internal_server_error, "internal server error");

  // The request id and detail sit beside "error", not under "details".
  auto body = nlohmann::json::parse(res.body());
  body.update(details);
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

}  // namespace

asio::awaitable<response> error_handler::handle(request& req, context& ctx,
                                                next_handler next) const {
  std::exception_ptr error;
  try {
    co_return co_await next(req, ctx);
  } catch (...) {
    error = std::current_exception();
  }
  co_return failure(options_, counters_, req, ctx, error);
}

}  // namespace portcullis
