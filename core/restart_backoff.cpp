#include "core/restart_backoff.hpp"

#include <algorithm>

namespace spry::core {

restart_backoff::restart_backoff(const instances_spec& spec)
  : first_ms_(spec.restart_backoff_ms),
    max_ms_(spec.restart_backoff_max_ms),
    window_ns_(uint64_t{spec.crash_loop_window_ms} * 1000000),
    loop_exits_(spec.crash_loop_restarts),
    next_ms_(spec.restart_backoff_ms) {}

restart_backoff::decision restart_backoff::on_exit(uint64_t now_ns) {
  exits_.push_back(now_ns);
  while (!exits_.empty() && now_ns - exits_.front() > window_ns_)
    exits_.pop_front();
  bool started = false;
  if (exits_.size() >= loop_exits_) {
    started = !crash_looping_;
    crash_looping_ = true;
    next_ms_ = static_cast<uint32_t>(max_ms_);
  } else if (exits_.size() <= 1) {
    // The only exit in the window: whatever came before is forgotten, back to the first delay.
    crash_looping_ = false;
    next_ms_ = static_cast<uint32_t>(first_ms_);
  }
  const uint64_t at = now_ns + uint64_t{next_ms_} * 1000000;
  next_ms_ = static_cast<uint32_t>(std::min<uint64_t>(uint64_t{next_ms_} * 2, max_ms_));
  return {at, crash_looping_, started, exits_.size()};
}

} // namespace spry::core
