#pragma once
// What a shm-dpdk poller does after a round that found nothing (dpdk.idle):
//   spin      pause and poll again: the lowest latency, a core burned for good;
//   yield     after a few pauses, sched_yield() between polls: the core goes to whoever wants it;
//   adaptive  (the default) pause, then yield for dpdk.spin_us, then sleep in the kernel on the
//             poller's doorbell until a sender rings (doorbell.hpp) - an idle app costs nothing.
//
// Threads: one object per poller, used by the poller thread only.

#include "core/clock.hpp"
#include "transports/shm-dpdk/endpoint_table.hpp"

#include <rte_pause.h>
#include <sched.h>

#include <cstdint>
#include <string>

namespace spry::transports::dpdk {

enum class idle_mode { adaptive, spin, yield };

/// dpdk.idle's value (already checked by the config section).
idle_mode idle_mode_of(const std::string& name);

class poller_idle {
public:
  /// How long a poller polls back to back (with a pause between polls) once its rings are
  /// empty, before it starts giving its core away between polls: short enough that an
  /// oversubscribed machine does not wait for a time slice, long enough that the next
  /// descriptor of a burst is met by a spinning poller. Time, not a count of pauses: one pause
  /// takes from a few to 140 cycles depending on the CPU (25 ns on this project's AMD test
  /// machine, where the 256 pauses this used to be cost 6.5 us every time a ring emptied,
  /// 2 us of CPU per request at 60K requests/s).
  static constexpr uint64_t pause_ns = 1000;
  /// An adaptive poller's sleep ends after this even if nobody rings: a safety net for a sender
  /// killed between its enqueue and its wake-up (and for bugs, which it counts as missed_wakes).
  /// Ten wake-ups a second cost nothing measurable.
  static constexpr long sleep_timeout_ns = 100'000'000;

  /// `home`: the table entry whose doorbell this poller sleeps on (adaptive only).
  poller_idle(idle_mode mode, uint64_t spin_ns, endpoint_entry& home) noexcept
    : mode_(mode), spin_ns_(spin_ns), home_(home) {}

  /// After a round that delivered something.
  void busy() noexcept { empty_ = 0; }

  /// After a round that found nothing: pauses, yields or sleeps. `has_work()` says whether the
  /// poller has something to do after all (descriptors it would take, or it is stopping); an
  /// adaptive poller asks it after announcing a sleep, and sleeps only if it says no.
  template <class HasWork>
  void empty_round(HasWork&& has_work) noexcept {
    if (mode_ == idle_mode::spin) {
      rte_pause();
      return;
    }
    const uint64_t now = core::now_ns();
    if (++empty_ == 1)
      quiet_since_ = now;
    const uint64_t quiet = now - quiet_since_;
    if (quiet < pause_ns)
      rte_pause();
    else if (mode_ == idle_mode::yield || quiet < spin_ns_)
      sched_yield();
    else if (sleep(has_work))
      // Woken by its safety timeout with work waiting: a lost wake-up (see missed_wakes).
      missed_wake();
    // `empty_` and `quiet_since_` stay: a wake-up that brings nothing (the safety timeout, a
    // control thread's kick) goes straight back to sleep after one empty round, instead of
    // polling another spin_us (which, every 100 ms, would be an idle cost of its own).
  }

private:
  /// Sleeps unless `has_work()`; whether it timed out with `has_work()` true afterwards.
  template <class HasWork>
  bool sleep(HasWork& has_work) noexcept;
  [[gnu::noinline]] void missed_wake() noexcept;
  /// No futex on this memory: from now on it yields instead.
  [[gnu::noinline]] void cannot_sleep(int error) noexcept;

  idle_mode mode_;
  uint64_t spin_ns_;
  endpoint_entry& home_;
  unsigned empty_ = 0;
  uint64_t quiet_since_ = 0;
};

} // namespace spry::transports::dpdk

#include "transports/shm-dpdk/doorbell.hpp"

namespace spry::transports::dpdk {

template <class HasWork>
bool poller_idle::sleep(HasWork& has_work) noexcept {
  const sleep_outcome slept = sleep_unless(home_, has_work, sleep_timeout_ns);
  if (slept.what == sleep_outcome::failed)
    cannot_sleep(slept.error);
  return slept.what == sleep_outcome::timed_out && has_work();
}

} // namespace spry::transports::dpdk
