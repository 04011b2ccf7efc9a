#pragma once
// Sends held back and sent together (shm-skmsg). What the functions of one drained batch send,
// or the head hops one turn of the gateway's HTTP loop starts, leaves as one send() per run of
// descriptors for the same endpoint, which the sk_msg program redirects as one message: one
// system call, one queueing and one wake-up of the receiver instead of one each. On the hello
// chain at 32 connections an instance reads about 6 descriptors per wake-up.
//
// A held descriptor has been checked but its buffer's ownership word is not handed over until
// the flush: a process killed with sends still held owns those buffers, so the gateway reclaims
// them with the rest of what that process held and answers how it ended (handed over early, the
// word would name a live endpoint that never gets the descriptor).
//
// One batch is current per thread (send_batch::current): a drain's, or a hold_sends() of the
// gateway's loop. The transport's send() adds to it when it is the transport's own.

#include "core/buffer_owner.hpp"
#include "core/descriptor.hpp"
#include "core/transport.hpp"
#include "skmsg_maps.h"

#include <cerrno>
#include <cstdint>
#include <sys/socket.h>

namespace spry::transports::skmsg {

/// What a send() on an endpoint's socket that failed with `err` means: only a full receiver
/// makes the kernel refuse (its memory for queued messages), which is backpressure; any other
/// error means the socket cannot reach the destination.
inline core::send_status refusal_of(int err) noexcept {
  return err == EAGAIN || err == EWOULDBLOCK || err == ENOMEM || err == ENOBUFS
           ? core::send_status::backpressure
           : core::send_status::unknown_endpoint;
}

class send_batch {
public:
  static constexpr uint32_t capacity = SPRY_SKMSG_MAX_BATCH;
  /// A held descriptor waits for the rest of its batch only while functions are short: it leaves
  /// once it has waited this long, or before the next function when the last one ran this long.
  static constexpr uint64_t budget_ns = 20000;

  explicit send_batch(const void* owner = nullptr) noexcept : owner_(owner) {}

  /// The transport whose sends this batch holds.
  const void* owner() const noexcept { return owner_; }
  void set_owner(const void* owner) noexcept { owner_ = owner; }
  uint32_t size() const noexcept { return n_; }
  /// Adds a checked descriptor; true when the batch is full and must be flushed now.
  bool add(const core::descriptor& d, uint64_t now_ns) noexcept {
    if (n_ == 0)
      first_ns_ = now_ns;
    held_[n_++] = d;
    return n_ == capacity;
  }
  /// Whether to flush before the next function runs, `now_ns` being the end of the last run,
  /// which took `last_run_ns`.
  bool due(uint64_t now_ns, uint64_t last_run_ns) const noexcept {
    return n_ && (last_run_ns >= budget_ns || now_ns - first_ns_ >= budget_ns);
  }

  /// Sends everything held on `fd`, in order, one send() per run of one destination; each
  /// buffer is handed over (core::hand_over) right before its run leaves, and one the gateway
  /// reclaimed meanwhile is skipped and counted in `skipped`. `resolve(d)` names d's buffer.
  /// What the kernel does not take goes to `refused(d, previous_owner, why)` with the word to
  /// give the buffer back with. Returns the number sent. Empties the batch.
  template <class Resolve, class Refused>
  uint32_t flush(int fd, Resolve&& resolve, Refused&& refused, uint32_t& skipped) noexcept;

  /// The batch current on this thread, or nullptr.
  static send_batch* current() noexcept { return current_; }

  /// Makes `b` (or none) current on this thread for the scope's life.
  class scope {
  public:
    explicit scope(send_batch* b) noexcept : saved_(current_) { current_ = b; }
    ~scope() { current_ = saved_; }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

  private:
    send_batch* saved_;
  };

  /// This thread's batch for hold_sends(), made current until flush_sends(). false: a batch is
  /// current already.
  static bool begin_hold(const void* owner) noexcept;
  /// The hold of `owner` on this thread, or nullptr; ends it (the caller flushes it).
  static send_batch* end_hold(const void* owner) noexcept;

private:
  static thread_local send_batch* current_;
  const void* owner_;
  uint32_t n_ = 0;
  uint64_t first_ns_ = 0;
  core::descriptor held_[capacity]; // not zeroed: a drain makes a batch on its stack each time
};

template <class Resolve, class Refused>
uint32_t send_batch::flush(int fd, Resolve&& resolve, Refused&& refused, uint32_t& skipped) noexcept {
  uint32_t sent = 0;
  uint32_t i = 0;
  while (i < n_) {
    const core::endpoint_id dst = held_[i].dst;
    core::descriptor out[capacity];
    uint32_t previous[capacity];
    uint32_t run = 0;
    for (; i < n_ && held_[i].dst == dst; ++i) {
      if (core::buffer_header* b = resolve(held_[i]); b && core::hand_over(*b, dst, previous[run]))
        out[run++] = held_[i];
      else
        ++skipped; // reclaimed while held
    }
    if (run == 0)
      continue;
    ssize_t n;
    do
      n = ::send(fd, out, run * sizeof(core::descriptor), MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    const uint32_t accepted = n > 0 ? static_cast<uint32_t>(n) / sizeof(core::descriptor) : 0;
    sent += accepted;
    const core::send_status why = n < 0 ? refusal_of(errno) : core::send_status::backpressure;
    for (uint32_t k = accepted; k < run; ++k)
      refused(out[k], previous[k], why);
  }
  n_ = 0;
  return sent;
}

} // namespace spry::transports::skmsg
