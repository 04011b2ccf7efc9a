#pragma once
// The shared state of every endpoint of one shm-dpdk app, in a DPDK memzone that the gateway
// (primary) creates and every instance (secondary) looks up by name. Two cache lines per
// endpoint (what senders read, what deliveries write); every field is written by one process
// and read by all, with atomics that are lock-free (so they work between processes).
//
// It holds what a sender in any process needs to decide before it touches a ring: whether the
// endpoint is bound (a sender gets unknown_endpoint instead of filling a ring nobody reads) and
// its queue depth (the Q_i load balancers read, for endpoints in other processes too), and how
// to wake the endpoint's poller when it sleeps (idle: adaptive). The rings themselves are
// separate rte_rings, one per endpoint, named ring_name(generation, id).
//
// Waking a sleeping poller (see doorbell.hpp for both sides in full, and why they work): each
// poller sleeps on the `doorbell` futex of one entry, its process's first bound endpoint (its
// "home"); every endpoint it polls names that entry in `poller`. The poller reads `doorbell`,
// then sets `asleep`, re-checks its rings and sleeps while `doorbell` is unchanged; a sender
// enqueues, then takes `asleep` back to 0 and, if it was set, bumps `doorbell` and wakes the
// futex. Futexes on this memory work between processes: DPDK maps it MAP_SHARED from
// hugetlbfs in every process. An endpoint whose delivery an event loop took over is its own
// home, rung through an eventfd instead (wakes_by_fd).

#include "core/ids.hpp"
#include "core/queue_depth.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <type_traits>

namespace spry::transports::dpdk {

/// "sprydpk4": two cache lines per entry, what senders read apart from what deliveries write;
/// a home entry may be rung through the node's eventfd (wakes_by_fd).
inline constexpr uint64_t table_magic = 0x7370727964706b34;

struct table_header {
  uint64_t magic;
  uint32_t endpoints;   ///< entries that follow
  uint32_t ring_size;   ///< descriptors per ring (a power of two)
  uint64_t generation;  ///< of the node transport that created it
  char reserved[40];
};
static_assert(sizeof(table_header) == 64, "one cache line");

struct alignas(64) endpoint_entry {
  // -- read by every send to this endpoint; written at bind, and when its poller sleeps --------
  /// Process that has the endpoint bound and polls its ring; 0: nobody (senders are refused).
  std::atomic<int32_t> pid;
  /// Ever bound: a row in traffic().
  std::atomic<uint32_t> seen;
  /// The entry whose `doorbell` wakes the poller of this endpoint (written at bind).
  std::atomic<uint32_t> poller;
  // -- as a poller's home entry (idle: adaptive) --
  /// Futex word the poller sleeps on; bumped by every wake-up.
  std::atomic<uint32_t> doorbell;
  /// 1 while a poller is (about to be) asleep on `doorbell`; the first sender to see it takes it
  /// back to 0 and rings. Only senders clear it, so two pollers sharing a home (an endpoint
  /// rebound in another process while its old poller lives on) never clear each other's.
  std::atomic<uint32_t> asleep;
  /// Times the poller went to sleep: that it does, for tests and `spry audit`-style looks.
  std::atomic<uint32_t> sleeps;
  /// Sleeps that ended by the safety timeout with descriptors waiting: lost wake-ups. Stays 0
  /// unless the protocol is broken, or a sender died (or was descheduled just as the timeout
  /// fell) between its enqueue and its wake-up.
  std::atomic<uint32_t> missed_wakes;
  /// 1: what sleeps on this home is not a poller on the `doorbell` futex but an event loop that
  /// took the endpoint's delivery over (take_delivery: the gateway's HTTP I/O thread), waiting
  /// in epoll on the node's eventfd, which every process of the app inherited; a ring writes
  /// that eventfd instead of waking the futex. Written by the owning process.
  std::atomic<uint32_t> wakes_by_fd;
  /// The address of this endpoint's rte_ring, the same in every process of the EAL (secondaries
  /// map the primary's memory at its addresses): instances find rings here, not by name (see
  /// endpoint_rings::attach). Written by the node before the table is published.
  std::atomic<uint64_t> ring_address;
  char reserved_sent[24];

  // -- written on every delivery, by the receiving process: a cache line of their own, so that
  //    a sender's reads above do not miss on every hop (they did when both shared one line) ----
  /// Descriptors handed to its actor and not yet consumed (the receiving process counts).
  alignas(64) core::queue_depth depth;
  std::atomic<uint64_t> messages; ///< delivered to its actor (written by its poller only)
  std::atomic<uint64_t> last_ns;  ///< CLOCK_MONOTONIC_COARSE of the last delivery (a tick's precision)
  std::atomic<uint64_t> bounced;  ///< refused at send (full, unbound) or dropped as stale
  char reserved_delivered[32];
};
static_assert(sizeof(endpoint_entry) == 128, "two cache lines per endpoint");
static_assert(std::atomic<int32_t>::is_always_lock_free && std::atomic<uint64_t>::is_always_lock_free,
              "atomics shared between processes must be lock-free");
static_assert(sizeof(core::queue_depth) == 4, "queue_depth is one 32-bit atomic");

inline std::string table_name(uint64_t generation) {
  return "spry" + std::to_string(generation) + "_eps";
}

inline std::string ring_name(uint64_t generation, core::endpoint_id id) {
  return "spry" + std::to_string(generation) + "_" + std::to_string(id);
}

} // namespace spry::transports::dpdk
