// portcullis/detail/ready.hpp — an answer that is already known, as the
// awaitable a middleware returns. Private to portcullis.
//
// A middleware's `handle` need not be a coroutine: one that decides without
// waiting returns `next(req, ctx)` to pass the request on, or
// `ready(answer)` to answer it, and a coroutine frame is made only where
// something is awaited. Every local of a coroutine lives in its frame (GCC
// keeps them all, whether or not they cross a suspension), and a frame over
// Asio's recycling limit (about 1 KiB) costs a malloc and a free per call:
//
//     asio::awaitable<response> handle(request& req, context& ctx,
//                                      next_handler next) const override {
//       if (auto refusal = check(req, ctx)) return detail::ready(std::move(*refusal));
//       return next(req, ctx);
//     }
#pragma once

#include "portcullis/http.hpp"

#include <boost/asio/awaitable.hpp>

namespace portcullis::detail {

/// An awaitable that yields `res` at once; its frame holds one response.
asio::awaitable<response> ready(response res);

}  // namespace portcullis::detail
