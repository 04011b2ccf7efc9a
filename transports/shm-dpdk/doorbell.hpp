#pragma once
// How an adaptive poller (dpdk.idle: adaptive) sleeps in the kernel when its rings are quiet, and
// how a sender wakes it: a futex in the poller's home entry of the endpoint table (see
// endpoint_table.hpp for the fields). Futexes on this memory work between processes: DPDK maps it
// MAP_SHARED from hugetlbfs in every process, so never FUTEX_PRIVATE_FLAG.
//
// The lost wake-up to avoid: the poller finds its rings empty and decides to sleep, a sender
// enqueues and sees no sleeper, the poller sleeps with a descriptor in its ring.
//   poller: bell = doorbell; asleep = 1; fence; read the rings (and its stop flag);
//           futex_wait(doorbell, bell)                                  (sleep_unless)
//   sender: publish in the ring; fence; if asleep.exchange(0): ++doorbell, futex_wake
//                                                                       (wake_if_asleep)
// Why no wake-up is lost. Take a sender whose descriptor the poller's check of the rings did not
// see, and the announcement (asleep = 1) of that sleep. What the sender's read of `asleep`
// returns decides:
//  - a value from before the announcement: impossible. Both sides write one location and then
//    read the other's, with a seq_cst fence between (Dekker): if the sender's read precedes the
//    announcement, the poller's later read of the ring sees the descriptor.
//  - the announcement's 1: the sender's exchange takes it and rings.
//  - a 0 written after the announcement: another sender took the flag. The first exchange after
//    the announcement read a 1 (the announcement, or another poller's sharing this home), so its
//    sender rings, and every step here is seq_cst: read `bell`, announce, that exchange, its
//    increment of the doorbell, in this order. The doorbell moves past `bell`, so futex_wait
//    (the kernel compares doorbell with `bell` atomically with queueing the waiter) returns at
//    once or is woken, and the poller polls again.
// The third case is why `bell` is read before the announcement, not after. Read after it, a late
// sender - one whose descriptor an earlier round already took, and which only now gets to its
// exchange - could take the new announcement and ring before the poller reads `bell`: that ring
// would be spent on nothing, and the next sender would find `asleep` 0 and not ring while the
// poller slept until its safety timeout with that sender's descriptor waiting.
// The ring's own publish is only a release store (rte_ring's tail update), hence the fences.
//
// On leaving without sleeping, `asleep` stays set: only senders clear it (see endpoint_table.hpp),
// and the next one pays one futex_wake for nothing.

#include "transports/shm-dpdk/endpoint_table.hpp"

#include <atomic>
#include <cstdint>

namespace spry::transports::dpdk {

/// Any thread, after putting a descriptor in a ring polled by the poller whose home is `home` (or
/// making room for one): wakes that poller if it sleeps. A fence and a load when it does not.
/// `bell_fd`: this process's copy of the node's eventfd (-1: none), written instead of the futex
/// when the sleeper is an event loop (home.wakes_by_fd).
inline void wake_if_asleep(endpoint_entry& home, int bell_fd) noexcept;

/// Any thread: makes the poller sleeping on `home` (if any) run a round now, whether or not it
/// announced a sleep. Control threads use it to kick their poller.
void ring(endpoint_entry& home, int bell_fd) noexcept;

struct sleep_outcome {
  enum kind {
    not_needed, ///< there was work (or the poller is stopping): it did not sleep
    rung,       ///< it slept and was woken (or the doorbell moved before it could sleep)
    timed_out,  ///< it slept for the whole timeout
    failed,     ///< no futex on this memory: `error` says why
  } what;
  int error = 0;
};

/// Poller thread: announces a sleep on `home`'s doorbell, asks `has_work()` (its rings, its stop
/// flag) and, if that says no, sleeps until rung or until `timeout_ns` has passed.
template <class HasWork>
sleep_outcome sleep_unless(endpoint_entry& home, HasWork&& has_work, long timeout_ns) noexcept;

// -- implementation ------------------------------------------------------------------------------

namespace detail {
/// The doorbell's value, read before the announcement; then the announcement and the fence.
/// An event loop that owns an endpoint (wakes_by_fd) announces the same way, then re-checks its
/// ring and waits in epoll on the eventfd.
uint32_t announce_sleep(endpoint_entry& home) noexcept;
sleep_outcome wait_for_ring(endpoint_entry& home, uint32_t bell, long timeout_ns) noexcept;
} // namespace detail

inline void wake_if_asleep(endpoint_entry& home, int bell_fd) noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (home.asleep.load(std::memory_order_relaxed) &&
      home.asleep.exchange(0, std::memory_order_seq_cst))
    ring(home, bell_fd);
}

template <class HasWork>
sleep_outcome sleep_unless(endpoint_entry& home, HasWork&& has_work, long timeout_ns) noexcept {
  const uint32_t bell = detail::announce_sleep(home);
  if (has_work())
    return {sleep_outcome::not_needed};
  home.sleeps.fetch_add(1, std::memory_order_relaxed);
  return detail::wait_for_ring(home, bell, timeout_ns);
}

} // namespace spry::transports::dpdk
