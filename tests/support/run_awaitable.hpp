// Running one awaitable to completion on a private io_context, for tests of
// asynchronous interfaces (stores, middleware). Exceptions are rethrown.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <optional>

namespace portcullis::test {

template <typename T>
T run(boost::asio::awaitable<T> aw) {
  boost::asio::io_context ioc;
  std::optional<T> out;
  std::exception_ptr err;
  boost::asio::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e, T v) {
    err = e;
    if (!e) out.emplace(std::move(v));
  });
  ioc.run();
  if (err) std::rethrow_exception(err);
  return std::move(*out);
}

inline void run(boost::asio::awaitable<void> aw) {
  boost::asio::io_context ioc;
  std::exception_ptr err;
  boost::asio::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e) { err = e; });
  ioc.run();
  if (err) std::rethrow_exception(err);
}

}  // namespace portcullis::test
