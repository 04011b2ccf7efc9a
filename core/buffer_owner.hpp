#pragma once
// The ownership word of a buffer in a pool shared between processes (buffer_header::owner): who
// holds the buffer, or which endpoint it is on its way to. One protocol for every shared-memory
// transport and the gateway, written once here:
//   - a sender hands the buffer to the destination before the descriptor leaves (hand_over);
//   - a send that did not happen gives it back to whoever had it (give_back);
//   - the gateway takes back the buffers of an instance reported dead (reclaim): from then on no
//     sender hands them over and no receiver runs them (descriptor_check refuses them).
// Every step is one compare-and-swap, so a sender racing the gateway's reclaim either hands the
// buffer over before it (and the gateway sees the destination, not the dead one) or sees
// reclaimed_owner and backs off.

#include "core/buffer_header.hpp"

#include <cstdint>

namespace spry::core {

/// Hands `b` to endpoint `dst` from whoever holds it, unless the gateway reclaimed it. `previous`:
/// the word before, for give_back(). false: reclaimed, not ours to send.
inline bool hand_over(buffer_header& b, uint32_t dst, uint32_t& previous) noexcept {
  previous = __atomic_load_n(&b.owner, __ATOMIC_ACQUIRE);
  do {
    if (previous == reclaimed_owner)
      return false;
  } while (!__atomic_compare_exchange_n(&b.owner, &previous, dst, true, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE));
  return true;
}

/// Moves `b` from `from` to `to` if `from` still holds it: a send that did not happen gives the
/// buffer back (from = its destination, to = the previous word), a transport takes an
/// undeliverable one for the gateway. false: someone else holds it now (the gateway reclaimed it).
inline bool give_back(buffer_header& b, uint32_t from, uint32_t to) noexcept {
  return __atomic_compare_exchange_n(&b.owner, &from, to, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/// The gateway: takes `b` back from endpoint `dead` (its instance was reported dead). false: the
/// buffer is not that endpoint's.
inline bool reclaim(buffer_header& b, uint32_t dead) noexcept {
  return give_back(b, dead, reclaimed_owner);
}

/// True when the gateway reclaimed `b`.
inline bool reclaimed(const buffer_header& b) noexcept {
  return __atomic_load_n(&b.owner, __ATOMIC_ACQUIRE) == reclaimed_owner;
}

} // namespace spry::core
