#pragma once
// The 16 bytes that move between endpoints on every hop of a shared-memory chain.
//
// A descriptor names where the buffer goes (destination endpoint) and which buffer it is (pool =
// chain index, offset of the buffer inside that pool). It never carries a pointer: pools are mapped
// at different addresses in different processes. Receivers validate the reference against their
// own mapping of the pool (pool::resolve) before touching the buffer.

#include "core/ids.hpp"

#include <cstdint>
#include <type_traits>

namespace spry::core {

struct descriptor {
  endpoint_id dst;      ///< destination endpoint
  chain_id pool;        ///< which chain's pool the buffer lives in
  uint16_t tag;         ///< tag_of(request id): a stale descriptor for a reused buffer mismatches
  uint64_t offset;      ///< byte offset of the buffer header inside the pool mapping
};

/// The low 16 bits of a request id, carried in every descriptor of that request.
inline uint16_t tag_of(uint64_t request_id) noexcept { return static_cast<uint16_t>(request_id); }

static_assert(sizeof(descriptor) == 16, "descriptor is a 16-byte wire struct");
static_assert(std::is_trivially_copyable_v<descriptor>);
static_assert(std::is_standard_layout_v<descriptor>);

inline bool operator==(const descriptor& a, const descriptor& b) noexcept {
  return a.dst == b.dst && a.pool == b.pool && a.tag == b.tag && a.offset == b.offset;
}

/// CAF inspection: descriptors travel as actor messages inside a process.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, descriptor& d) {
  return f(d.dst, d.pool, d.tag, d.offset);
}

} // namespace spry::core
