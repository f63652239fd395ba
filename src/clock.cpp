#include "portcullis/clock.hpp"

namespace portcullis {
namespace {

class os_clock final : public clock {
 public:
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() const noexcept override {
    return std::chrono::system_clock::now();
  }
};

}  // namespace

const clock& system_clock() noexcept {
  static const os_clock instance;
  return instance;
}

}  // namespace portcullis
