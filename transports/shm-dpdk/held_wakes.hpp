#pragma once
// Wake-ups a thread holds back while it sends several descriptors in a row: a poller running the
// functions of one round, the gateway's I/O thread starting the requests of one loop turn.
//
// Putting a descriptor in a ring costs a few nanoseconds; ringing a poller that sleeps costs the
// sender a system call and the receiver a wake-up. Rung at once, a sleeping poller downstream
// wakes for the first descriptor of a round, runs it, finds its ring empty again, sleeps, and is
// rung again for the next one. Held, the descriptors are in its ring at once (a poller that is
// awake takes them without waiting for anything) and a sleeping one is rung once, at the end of
// the round, and finds them all. The same reason shm-skmsg sends a round's descriptors in one
// message (transports/shm-skmsg/send_batch.hpp).
//
// No wake-up is lost: each held ring happens later, on the same thread, and the doorbell
// protocol (doorbell.hpp) only asks that a sender rings after its enqueue, which it still does.
// How much later is bounded: the holder ends the hold once `budget_ns` has passed since its
// first held ring, so a long function does not keep the next one waiting.

#include "core/clock.hpp"

#include <cstdint>

namespace spry::transports::dpdk {

class held_wakes {
public:
  /// Distinct pollers held at once; a ring for one more is made at once.
  static constexpr unsigned capacity = 8;
  /// Longest a held ring waits, from the first one held.
  static constexpr uint64_t budget_ns = 20000;

  /// This thread's hold for transport `owner` if one is under way, else null.
  static held_wakes* of(const void* owner) noexcept {
    held_wakes& h = mine();
    return h.owner_ == owner ? &h : nullptr;
  }

  /// Starts a hold for `owner` on this thread; false if one is under way already (the outer
  /// one ends it).
  static bool begin(const void* owner) noexcept {
    held_wakes& h = mine();
    if (h.owner_)
      return false;
    h.owner_ = owner;
    h.count_ = 0;
    return true;
  }

  /// Holds a ring of home entry `home`; false when it cannot (the hold is full): ring now.
  bool add(uint32_t home) noexcept {
    for (unsigned i = 0; i < count_; ++i)
      if (homes_[i] == home)
        return true;
    if (count_ == capacity)
      return false;
    if (count_ == 0)
      first_ns_ = core::now_ns();
    homes_[count_++] = home;
    return true;
  }

  /// Whether the first held ring has waited its budget (reads the clock only if one is held).
  bool due() const noexcept { return count_ && core::now_ns() - first_ns_ >= budget_ns; }

  /// Rings every held home (`ring(home)`), keeping the hold.
  template <class Ring>
  void flush(Ring&& ring) noexcept {
    const unsigned n = count_;
    count_ = 0; // before ringing: a ring never re-enters, but a reader of the count may
    for (unsigned i = 0; i < n; ++i)
      ring(homes_[i]);
  }

  /// Rings every held home and ends this thread's hold.
  template <class Ring>
  void end(Ring&& ring) noexcept {
    flush(ring);
    owner_ = nullptr;
  }

private:
  static held_wakes& mine() noexcept {
    static thread_local held_wakes h;
    return h;
  }

  const void* owner_ = nullptr;
  unsigned count_ = 0;
  uint64_t first_ns_ = 0;
  uint32_t homes_[capacity];
};

} // namespace spry::transports::dpdk
