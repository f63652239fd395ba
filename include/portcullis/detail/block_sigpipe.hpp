// portcullis/detail/block_sigpipe.hpp — SIGPIPE off the stores' writes.
// Private to portcullis.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <time.h>

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

/// Blocks SIGPIPE on the calling thread for the life of the object, for a
/// write made on a thread the library does not own (the Redis store on the
/// application's io_context): a SIGPIPE that write raised is taken off the
/// thread before the old mask comes back, so the application's own
/// disposition never sees it. Costs two or three system calls.
class sigpipe_guard {
 public:
  sigpipe_guard() noexcept {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    sigset_t pending;
    sigemptyset(&pending);
    // One that was already pending belongs to someone else: leave it.
    was_pending_ = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
  }
  ~sigpipe_guard() {
    if (sigismember(&old_, SIGPIPE) == 1) return;  // blocked anyway (a store's thread)
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        const timespec now{0, 0};
        sigtimedwait(&pipe_, nullptr, &now);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  sigpipe_guard(const sigpipe_guard&) = delete;
  sigpipe_guard& operator=(const sigpipe_guard&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

}  // namespace portcullis::detail
