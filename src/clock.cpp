#include "portcullis/clock.hpp"

#include <time.h>

namespace portcullis {
namespace {

class os_clock final : public clock {
 public:
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() const noexcept override {
    return std::chrono::system_clock::now();
  }
};

class coarse_os_clock final : public clock {
 public:
  time_point now() const noexcept override {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return time_point{std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)};
  }
  std::chrono::system_clock::time_point wall_now() const noexcept override {
    return std::chrono::system_clock::now();
  }
};

}  // namespace

std::chrono::nanoseconds coarse_clock_resolution() noexcept {
  timespec ts{};
  ::clock_getres(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

const clock& coarse_system_clock() noexcept {
  static const coarse_os_clock instance;
  return instance;
}

const clock& system_clock() noexcept {
  static const os_clock instance;
  return instance;
}

}  // namespace portcullis
