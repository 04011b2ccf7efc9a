#pragma once
// Threads made ahead of need. Creating a thread costs a forked instance tens of microseconds of
// CPU (clone, its stack's mappings), and the thread's first malloc more (glibc makes it an arena:
// a 64 MB reservation): work that does not depend on which function the instance runs. A spare
// instance process (instance_template.hpp) parks threads before it waits, and the code that later
// needs a thread (a transport's reader or poller) takes one through spare_thread, which starts a
// new std::thread when none is parked: callers behave the same with or without spares (instances
// started by exec, tests, the gateway).
//
// A parked thread has made its malloc arena and waits on a condition variable: no CPU until it
// is taken. One never taken does not keep the process from exiting (exit() ends every thread;
// nothing waits for parked ones, and their shared state is never destroyed under them).

#include <functional>
#include <thread>
#include <vector>

namespace spry::core {

/// Creates `n` threads and parks them; returns once each has made its malloc arena and waits.
/// Thread-safe. A process that forks after parking keeps them in the parent only: its child
/// never takes one (they do not exist there).
void park_spare_threads(size_t n);

/// The ids of the threads parked now (in the order spare_thread takes them).
std::vector<std::thread::id> parked_spare_threads();

/// A joinable thread like std::thread, taken from the parked ones when there is one. Like a new
/// thread, a taken one runs with its starter's signal mask, CPU affinity and name (a parked one
/// was created with its parker's). Not thread-safe itself (as std::thread); taking is.
class spare_thread {
public:
  spare_thread() noexcept = default;
  spare_thread(spare_thread&&) noexcept = default;
  spare_thread& operator=(spare_thread&&) noexcept = default;
  /// As std::thread's: std::terminate if still joinable.
  ~spare_thread() = default;

  /// Runs `f` on a parked thread, or on a new one if none is parked. Precondition: !joinable().
  /// Throws std::system_error as std::thread does if a new thread cannot be created.
  void start(std::function<void()> f);
  bool joinable() const noexcept { return thread_.joinable(); }
  /// Waits for `f` to return; the thread ends then (a taken thread is never parked again).
  void join() { thread_.join(); }
  std::thread::id id() const noexcept { return thread_.get_id(); }

private:
  std::thread thread_;
};

} // namespace spry::core
