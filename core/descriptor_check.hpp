#pragma once
// The check every receiver applies to a descriptor before touching the buffer it names: a
// descriptor may come from another process (a shared-memory transport delivers whatever 16 bytes
// an instance sent), so it is untrusted input. Used by the instance actor and the gateway;
// fuzzed by fuzz/descriptor_fuzz.cpp.

#include "core/descriptor.hpp"
#include "core/pool.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace spry::core {

struct checked_descriptor {
  buffer_header* buffer = nullptr; ///< the buffer, or nullptr when refused
  const char* why = nullptr;       ///< the reason when refused (a static string)
};

/// The buffer `d` names in `pools`: the pool must exist, the offset must name an allocated
/// buffer of it (pool::resolve), the tag must match that buffer's request (a stale descriptor
/// for a reused buffer is refused), and, when `owner` is given (pools shared between processes),
/// the buffer's ownership word must name that receiver: every sender sets it before the
/// descriptor leaves, so a process can neither replay a finished request nor complete one
/// another process still holds. Never reads outside a pool mapping. noexcept, no allocation:
/// called once per hop.
inline checked_descriptor check_descriptor(const std::vector<pool>& pools, const descriptor& d,
                                           std::optional<uint32_t> owner = std::nullopt) noexcept {
  if (d.pool >= pools.size())
    return {nullptr, "unknown pool"};
  buffer_header* b = pools[d.pool].resolve(d.offset);
  if (!b)
    return {nullptr, "buffer reference outside the pool or not allocated"};
  if (d.tag != tag_of(b->request_id))
    return {nullptr, "stale descriptor (its tag does not match the buffer's request)"};
  if (owner && __atomic_load_n(&b->owner, __ATOMIC_ACQUIRE) != *owner)
    return {nullptr, "buffer not handed to this receiver (its ownership word names another endpoint)"};
  return {b, nullptr};
}

} // namespace spry::core
