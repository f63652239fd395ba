// portcullis/detail/block_sigpipe.hpp — for the stores' own threads.
// Private to portcullis.
#pragma once

#include <pthread.h>
#include <signal.h>

namespace portcullis::detail {

/// Blocks SIGPIPE on the calling thread, so that a write to a socket the
/// peer closed returns EPIPE instead of ending the process (the signal's
/// default). For threads a store starts and writes from (hiredis and
/// OpenSSL write without MSG_NOSIGNAL); the application's own SIGPIPE
/// disposition is left as it is.
inline void block_sigpipe() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace portcullis::detail
