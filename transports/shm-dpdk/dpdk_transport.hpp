#pragma once
// transport "shm-dpdk": the same zero-copy data path as shm-skmsg, with descriptors carried by
// DPDK rte_rings between busy-polling processes - the published comparison point for SPRIGHT's
// event-driven design: the fastest hop, bought with a core burned per poller even when idle.
//
// Processes: the gateway (node) is the DPDK EAL primary; it creates one rte_ring per endpoint
// (multi-producer, single-consumer; 16-byte elements: core::descriptor) and a table of endpoint
// state in a memzone. Instance processes attach as EAL secondaries with the primary's file prefix
// and find the table at the address the primary gives them (both in the transport's instance
// parameters), and the rings at the addresses the table holds - without the EAL's locks (see
// endpoint_rings::attach).
//
// Payloads: buffers stay in spry's own per-chain memfd pools, mapped by every process of the
// chain, exactly as on shm-skmsg; descriptors carry offsets into them. One pool design serves
// every shared-memory transport (the gateway's buffer ownership, reclaim and pool metrics are the
// same code), and chain isolation holds: an instance maps only its own chains' pools, whereas
// DPDK's hugepage memory is mapped whole by every secondary. DPDK memory holds only the rings
// and the endpoint table.
//
// Receiving: one poller thread per process polls the rings of every endpoint bound in it with
// rte_ring_sc_dequeue_burst and hands each descriptor to the endpoint's sink on that thread (an
// instance runs its function right there; the buffer is not touched, let alone copied). With
// dpdk.idle: adaptive (the default) it sleeps on a futex in the endpoint table once its rings
// are quiet, and senders ring it (doorbell.hpp), once per round of sends (held_wakes.hpp). The
// gateway's endpoint is read by the gateway's HTTP I/O thread itself (take_delivery), which
// waits in epoll on an eventfd that every instance inherits and writes when it finds that
// thread waiting; the gateway process then has no poller. Nothing polls after stop().
//
// Faults: an instance killed with SIGKILL may leave descriptors in its ring, and a slot of some
// ring claimed but never published. When the node learns the instance is gone (remove_peer),
// it fails every descriptor left in its ring back to the gateway and releases slots claimed by
// the dead process, so neither buffers nor ring slots leak and no sender waits forever.
//
// Needs: root (or write access to hugetlbfs and the EAL runtime directory) and free 2 MB
// hugepages for dpdk.memory (default 64 MiB) in the gateway process.

#include "core/transport_registry.hpp"

namespace spry::transports::dpdk {

void register_transport(core::transport_registry& registry);

/// The registry's factory, for the hop benchmark in this folder (hop_bench.cpp).
core::expected<std::unique_ptr<core::transport>> make_transport(const core::transport_context& ctx);

} // namespace spry::transports::dpdk
