#pragma once
// When to restart an instance that exited on its own, and when to call that a crash loop: the
// first restart after `restart_backoff`, each further one twice as late up to
// `restart_backoff_max`; `crash_loop_restarts` exits within `crash_loop_window` make it a crash
// loop, restarted at the maximum delay from then on (reported, slowed, never spun) until the
// window holds one exit again. Pure: times in, times out, no clock, no I/O (the supervisor owns
// one per instance, under its lock; the unit test drives it with made-up times).

#include "core/app_spec.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>

namespace spry::core {

class restart_backoff {
public:
  /// Delays and thresholds from the app's `instances:` section.
  explicit restart_backoff(const instances_spec& spec);

  /// What an exit at `now_ns` leads to.
  struct decision {
    uint64_t restart_at_ns;  ///< when to start the instance again
    bool crash_looping;      ///< the window holds crash_loop_restarts exits (or more)
    bool started_looping;    ///< this exit made it a crash loop (report it, once)
    size_t exits_in_window;  ///< for the report
  };
  decision on_exit(uint64_t now_ns);

  bool crash_looping() const noexcept { return crash_looping_; }

private:
  uint64_t first_ms_, max_ms_, window_ns_;
  uint32_t loop_exits_;
  uint32_t next_ms_;             // the delay of the next restart
  std::deque<uint64_t> exits_;   // within the window
  bool crash_looping_ = false;
};

} // namespace spry::core
