#pragma once
// The endpoint board: live load of every endpoint of the app, in one small shared-memory table
// that the gateway and every instance process map (like the pools, passed down by fd).
//
// This is how instances piggyback their metrics for Mu's balancer and the autoscaler: a sender
// counts an arrival on the destination's slot when a descriptor leaves (any process), the
// instance counts a completion with its execution time when it has sent the request on. So
//   queue length  Q_i = arrivals - completions     (queued + running, seen from every process)
//   capacity    Cap_i = concurrency / smoothed execution time
// are current for whoever picks the next hop, including an instance routing directly to the
// next function, which never sees the buffer headers the gateway gets back. (The buffer header
// still carries the last hop's exec_ns/queue_length for the gateway's per-request view.)
//
// Cost: one relaxed atomic add per hop and a few per completion, on the endpoint's own two
// cache lines; nothing when idle. The board holds counters only, never payload, so sharing it across chains leaks no
// data; a misbehaving instance can only skew load figures.

#include "core/error.hpp"
#include "core/ids.hpp"

#include <atomic>
#include <cstdint>

namespace spry::core {

/// Upper bounds (ns) of the execution-time histogram buckets; the last bucket is everything above.
inline constexpr uint64_t exec_bucket_bounds_ns[] = {10000, 100000, 1000000, 10000000,
                                                     100000000, 1000000000, 10000000000};
inline constexpr size_t exec_buckets = sizeof(exec_bucket_bounds_ns) / sizeof(uint64_t) + 1;

struct alignas(64) endpoint_slot {
  std::atomic<uint64_t> arrivals{0};     ///< descriptors sent to this endpoint
  std::atomic<uint64_t> completions{0};  ///< requests it finished and sent on
  std::atomic<uint64_t> busy_ns{0};      ///< total execution time of those requests
  std::atomic<uint64_t> ewma_exec_ns{0}; ///< smoothed execution time (0: none yet)
  std::atomic<uint64_t> last_done_ns{0}; ///< core::now_ns() of the last completion
  std::atomic<uint32_t> concurrency{1};  ///< requests it runs at once
  /// Descriptors it refused on validation (forged, stale, out of range): counted where they
  /// arrive, in whatever process that is, so the node sees a misbehaving sender.
  std::atomic<uint32_t> rejected{0};
  /// Knative's activator is in this instance's request path (KPA: the function's excess burst
  /// capacity is below zero; set by the node's control plane, cleared by reset): senders give it
  /// a request only while it has a free slot (in flight < concurrency) and otherwise return the
  /// request to the gateway, which holds it until one has (hop_router::send_to_function).
  std::atomic<uint32_t> activator{0};
  uint32_t pad_[3];
  /// Execution times by decade (10 us .. 10 s, then above): the per-function latency histogram.
  std::atomic<uint64_t> exec_histogram[exec_buckets] = {};
};
static_assert(sizeof(endpoint_slot) == 128, "two cache lines per endpoint: counters, histogram");
static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared across processes");

class endpoint_board {
public:
  /// A new board for endpoints 0..endpoints-1 (node).
  static expected<endpoint_board> create(uint32_t endpoints);
  /// Maps the board passed down as `fd` (instance); takes ownership of fd.
  static expected<endpoint_board> attach(int fd);

  endpoint_board() = default;
  endpoint_board(endpoint_board&& o) noexcept { *this = std::move(o); }
  endpoint_board& operator=(endpoint_board&& o) noexcept;
  ~endpoint_board();

  int fd() const noexcept { return fd_; }
  uint32_t size() const noexcept { return count_; }
  /// The slot of `e`, or null when out of range (ids from other processes are untrusted).
  endpoint_slot* slot(endpoint_id e) const noexcept { return e < count_ ? &slots_[e] : nullptr; }

  void arrival(endpoint_id e) noexcept {
    if (auto* s = slot(e))
      s->arrivals.fetch_add(1, std::memory_order_relaxed);
  }
  void rejected(endpoint_id e) noexcept {
    if (auto* s = slot(e))
      s->rejected.fetch_add(1, std::memory_order_relaxed);
  }
  /// `exec_ns`: how long the function ran; `now_ns`: when the request left the instance.
  void completion(endpoint_id e, uint64_t exec_ns, uint64_t now_ns) noexcept;
  /// Requests sent to `e` and not finished by it.
  uint32_t in_flight(endpoint_id e) const noexcept;
  /// Smoothed execution time in seconds (0: not measured yet).
  double service_time_s(endpoint_id e) const noexcept;
  /// Node side, when an endpoint id is (re)used for a new instance: start from an empty queue.
  void reset(endpoint_id e, uint32_t concurrency) noexcept;

private:
  int fd_ = -1;
  uint32_t count_ = 0;
  endpoint_slot* slots_ = nullptr;
};

} // namespace spry::core
