#include "transports/shm-dpdk/endpoint_rings.hpp"

#include <rte_errno.h>
#include <rte_memory.h>
#include <rte_memzone.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>
#include <new>
#include <thread>

namespace spry::transports::dpdk {

uint64_t endpoint_rings::memory_needed(uint32_t endpoints, uint32_t ring_size) noexcept {
  const uint64_t ring_bytes =
    static_cast<uint64_t>(rte_ring_get_memsize_elem(sizeof(core::descriptor), ring_size));
  return ring_bytes * endpoints + sizeof(table_header) + uint64_t{endpoints} * sizeof(endpoint_entry);
}

core::expected<endpoint_rings> endpoint_rings::create(uint32_t endpoints, uint32_t ring_size,
                                                      uint64_t generation) {
  const uint64_t table_bytes = sizeof(table_header) + uint64_t{endpoints} * sizeof(endpoint_entry);
  const rte_memzone* zone = rte_memzone_reserve(table_name(generation).c_str(), table_bytes,
                                                SOCKET_ID_ANY, 0);
  if (!zone)
    return core::make_error("transport shm-dpdk: cannot reserve the endpoint table in DPDK memory: " +
                            std::string(rte_strerror(rte_errno)));
  auto* header = new (zone->addr) table_header{};
  header->endpoints = endpoints;
  header->ring_size = ring_size;
  header->generation = generation;
  auto* entries = reinterpret_cast<endpoint_entry*>(header + 1);
  for (uint32_t i = 0; i < endpoints; ++i)
    new (&entries[i]) endpoint_entry{};
  endpoint_rings out;
  out.zone_ = zone;
  out.entries_ = entries;
  out.endpoints_ = endpoints;
  for (uint32_t i = 0; i < endpoints; ++i) {
    // Many producers (any process, any thread), one consumer (the endpoint's poller).
    rte_ring* r = rte_ring_create_elem(ring_name(generation, i).c_str(), sizeof(core::descriptor),
                                       ring_size, SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (!r) {
      const int err = rte_errno;
      out.free();
      return core::make_error("transport shm-dpdk: cannot create the ring of endpoint " +
                              std::to_string(i) + ": " + rte_strerror(err) +
                              " (raise dpdk.memory or lower dpdk.ring_size)");
    }
    out.rings_.push_back(r);
    entries[i].ring_address.store(reinterpret_cast<uint64_t>(r), std::memory_order_relaxed);
  }
  // Published last: an instance that finds the table finds every ring.
  __atomic_store_n(&header->magic, table_magic, __ATOMIC_RELEASE);
  return out;
}

namespace {

// Whether [address, address + bytes) lies in one memory segment list of the EAL (lock-free).
bool in_dpdk_memory(uint64_t address, size_t bytes) noexcept {
  if (address == 0)
    return false;
  auto* first = reinterpret_cast<void*>(address);
  auto* last = reinterpret_cast<void*>(address + bytes - 1);
  const rte_memseg_list* list = rte_mem_virt2memseg_list(first);
  return list && list == rte_mem_virt2memseg_list(last);
}

} // namespace

core::expected<endpoint_rings> endpoint_rings::attach(uint64_t generation, uint64_t table_address,
                                                      const std::string& where) {
  auto* header = in_dpdk_memory(table_address, sizeof(table_header))
                   ? reinterpret_cast<table_header*>(table_address)
                   : nullptr;
  if (!header || __atomic_load_n(&header->magic, __ATOMIC_ACQUIRE) != table_magic ||
      header->generation != generation ||
      !in_dpdk_memory(table_address, sizeof(table_header) + uint64_t{header->endpoints} * sizeof(endpoint_entry)))
    return core::make_error("transport shm-dpdk: the gateway's endpoint table (" +
                            table_name(generation) + ") is not in DPDK memory with prefix " +
                            where + "; is the gateway still running?");
  endpoint_rings out;
  out.entries_ = reinterpret_cast<endpoint_entry*>(header + 1);
  out.endpoints_ = header->endpoints;
  for (uint32_t i = 0; i < header->endpoints; ++i) {
    const uint64_t address = out.entries_[i].ring_address.load(std::memory_order_relaxed);
    auto* r = reinterpret_cast<rte_ring*>(address);
    const std::string name = ring_name(generation, i);
    if (!in_dpdk_memory(address, sizeof(rte_ring)) || name.compare(r->name) != 0)
      return core::make_error("transport shm-dpdk: the ring of endpoint " + std::to_string(i) +
                              " (" + name + ") is not where the gateway's table says");
    out.rings_.push_back(r);
  }
  return out;
}

void endpoint_rings::free() noexcept {
  for (auto* r : rings_)
    rte_ring_free(r);
  rings_.clear();
  if (zone_)
    rte_memzone_free(zone_);
  zone_ = nullptr;
  entries_ = nullptr;
  endpoints_ = 0;
}

uint64_t endpoint_rings::slots_in_use(core::endpoint_id id) const noexcept {
  const rte_ring* r = rings_[id];
  const uint32_t head = __atomic_load_n(&r->prod.head, __ATOMIC_ACQUIRE);
  const uint32_t tail = __atomic_load_n(&r->cons.tail, __ATOMIC_ACQUIRE);
  return static_cast<uint32_t>(head - tail);
}

// A process killed between claiming a ring slot (moving prod.head) and publishing it (moving
// prod.tail) leaves every later producer of that ring waiting for the tail forever. Producers
// publish in claim order and every spry enqueue claims exactly one slot, so a tail that does
// not move while claims are outstanding is stuck at the dead producer's slot: advancing it by
// one hands the slot to the consumer, which drops it unless it holds a live descriptor for its
// endpoint (the transport's deliver() checks the buffer's owner).
//
// The wait before deciding is long on purpose: a live producer descheduled between its claim
// and its publish for longer than that would have its slot released under it and then wait
// for a tail that has moved past it. Half a second is far beyond any run-queue delay seen on
// an oversubscribed machine; the cost is that a ring with a dead claim stays blocked that long
// after the death, and only then.
void endpoint_rings::release_dead_claims(
  const std::function<void(core::endpoint_id)>& released) noexcept {
  using clock = std::chrono::steady_clock;
  for (core::endpoint_id id = 0; id < endpoints_; ++id) {
    rte_ring* r = rings_[id];
    for (;;) {
      uint32_t tail = __atomic_load_n(&r->prod.tail, __ATOMIC_ACQUIRE);
      if (__atomic_load_n(&r->prod.head, __ATOMIC_ACQUIRE) == tail)
        break;
      // Live producers publish within microseconds; give a descheduled one ample time.
      const auto deadline = clock::now() + std::chrono::milliseconds(500);
      bool moved = false;
      while (clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        const uint32_t now = __atomic_load_n(&r->prod.tail, __ATOMIC_ACQUIRE);
        if (now != tail || __atomic_load_n(&r->prod.head, __ATOMIC_ACQUIRE) == now) {
          moved = true;
          break;
        }
      }
      if (moved)
        continue;
      uint32_t expected = tail;
      if (__atomic_compare_exchange_n(&r->prod.tail, &expected, tail + 1, false,
                                      __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
        released(id); // the slot is the consumer's now: let it drop it
        spdlog::warn("shm-dpdk: released a slot of endpoint {}'s ring claimed by a process "
                     "that died before publishing it", id);
      }
    }
  }
}

} // namespace spry::transports::dpdk
