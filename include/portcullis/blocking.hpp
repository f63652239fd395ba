// portcullis/blocking.hpp — a chain for synchronous Beast servers.
//
// A server that reads and writes with blocking calls runs the chain to
// completion on the calling thread:
//
//     http::read(socket, buffer, req);
//     portcullis::context ctx{socket.remote_endpoint().address()};
//     auto res = portcullis::run_blocking(app, req, ctx);
//     http::write(socket, res);
//
// Each calling thread keeps its own private io_context for this; timers and
// asynchronous backends used by the chain run on it while the call blocks.
// Do not call it from inside an io_context's own thread (it would block that
// context's other work).
#pragma once

#include "portcullis/chain.hpp"

namespace portcullis {

/// Runs `req` through `c` and returns the response. Exceptions that escape
/// the chain are rethrown here.
response run_blocking(const chain& c, request& req, context& ctx);

}  // namespace portcullis
