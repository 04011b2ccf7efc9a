#pragma once
// The DPDK memory of one shm-dpdk app: its endpoint table (endpoint_table.hpp) and one rte_ring
// per endpoint (multi-producer, single-consumer; 16-byte elements: core::descriptor). The node
// (EAL primary) creates them and frees them; an instance (EAL secondary) looks them up by the
// names the node's generation gives them.
//
// Threads: create/attach/free on a control thread; the accessors from any thread.

#include "core/descriptor.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"
#include "transports/shm-dpdk/endpoint_table.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

struct rte_memzone;
struct rte_ring;

namespace spry::transports::dpdk {

static_assert(sizeof(core::descriptor) == 16, "ring elements are 16-byte descriptors");
static_assert(sizeof(core::descriptor) % 4 == 0, "rte_ring element sizes are multiples of 4");

class endpoint_rings {
public:
  /// Node: bytes of DPDK memory that `endpoints` rings of `ring_size` and their table take.
  static uint64_t memory_needed(uint32_t endpoints, uint32_t ring_size) noexcept;
  /// Node: reserves the table and creates the rings, named by `generation`. The table is
  /// published last: an instance that finds it finds every ring.
  static core::expected<endpoint_rings> create(uint32_t endpoints, uint32_t ring_size,
                                               uint64_t generation);
  /// Instance: finds the table the node made at `table_address` (its address(), the same in
  /// every process of the EAL) and the rings the table names (`where` names the node's EAL file
  /// prefix in errors). Takes none of the EAL's locks, unlike a look-up by name: an instance
  /// killed while holding one (rte_memzone_lookup, rte_ring_lookup) would leave it held for good
  /// - DPDK does not recover locks from dead processes - and the node would hang freeing its
  /// rings. Every address is checked to lie in DPDK memory before it is read.
  static core::expected<endpoint_rings> attach(uint64_t generation, uint64_t table_address,
                                               const std::string& where);

  /// The table's address, for attach().
  uint64_t address() const noexcept { return reinterpret_cast<uint64_t>(entries_) - sizeof(table_header); }

  endpoint_rings() = default;
  /// Node: frees the rings and the table (the node's to free; instances are gone by now). Not
  /// done by a destructor: an instance only forgets its pointers.
  void free() noexcept;

  uint32_t size() const noexcept { return endpoints_; }
  endpoint_entry* entries() const noexcept { return entries_; }
  endpoint_entry& entry(core::endpoint_id id) const noexcept { return entries_[id]; }
  rte_ring* ring(core::endpoint_id id) const noexcept { return rings_[id]; }

  /// Slots of ring `id` that are not free: published and not yet consumed, plus claimed by a
  /// producer that has not published yet. What a sender sees as taken.
  uint64_t slots_in_use(core::endpoint_id id) const noexcept;

  /// Node, after a process died: releases ring slots it claimed but never published, calling
  /// `released(id)` for each ring where it did (its consumer should look at it). Blocks up to
  /// half a second per ring with an outstanding claim.
  void release_dead_claims(const std::function<void(core::endpoint_id)>& released) noexcept;

private:
  const rte_memzone* zone_ = nullptr;
  endpoint_entry* entries_ = nullptr;
  uint32_t endpoints_ = 0;
  std::vector<rte_ring*> rings_;
};

} // namespace spry::transports::dpdk
