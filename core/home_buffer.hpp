#pragma once
// A request's home buffer at the gateway on a transport that copies payloads between processes
// (tcp): the gateway keeps the buffer while the request is out, and the transport writes the
// answer (or the failure) back into it. No other process can touch it, so when the chain's
// timeout has answered the client, the gateway takes it back at once instead of waiting for an
// answer that may never come (a mid-chain instance killed after it took the request, which no
// process that is left knows about).
//
// The one hazard is an answer being written into it just as the gateway takes it back. Both
// sides go through the buffer's request id, one compare-and-swap each:
//   - a writer marks the id busy (lock_home) before it writes and restores it (unlock_home)
//     after, and writes nothing if the id is no longer the request's;
//   - the gateway swaps the request's id for 0 (take_home_back), which fails while a writer is
//     busy (that answer is on its way and completes the request as any answer does) and makes
//     every later writer give up.
// So a buffer is either written by one writer and then handled as an answer, or taken back and
// never written again, never both.

#include "core/buffer_header.hpp"

#include <cstdint>

namespace spry::core {

/// Set in a home buffer's request id while a writer writes into it.
inline constexpr uint64_t home_busy_bit = uint64_t{1} << 63;

/// Writer: marks `b` busy if it still belongs to `request_id`. false: it does not (the gateway
/// took it back, or it serves another request now): write nothing.
inline bool lock_home(buffer_header& b, uint64_t request_id) noexcept {
  uint64_t expected = request_id;
  return __atomic_compare_exchange_n(&b.request_id, &expected, request_id | home_busy_bit, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/// Writer, after writing (every field but the request id, which it must not store itself).
inline void unlock_home(buffer_header& b, uint64_t request_id) noexcept {
  __atomic_store_n(&b.request_id, request_id, __ATOMIC_RELEASE);
}

/// Gateway, once the client has its answer (the chain's timeout): takes `b` back from the
/// transport. false: a writer is busy with it, or it is not `request_id`'s any more.
inline bool take_home_back(buffer_header& b, uint64_t request_id) noexcept {
  uint64_t expected = request_id;
  return __atomic_compare_exchange_n(&b.request_id, &expected, 0, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE);
}

} // namespace spry::core
