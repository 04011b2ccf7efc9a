#pragma once
// The micro-benchmark next to the transport: one hop between two processes, measured by
// ping-pong between this process (EAL primary) and a child it starts (EAL secondary):
//
//  1. the bare primitive: one rte_ring each way (configured like the transport's rings:
//     multi-producer, single-consumer, 16-byte elements), both sides spinning on dequeue;
//  2. the transport's hop through mailboxes: endpoint 1 here and endpoint 2 in the child, each
//     an actor that sends the descriptor straight back - send (owner swap + enqueue), the
//     poller's dequeue, the actor's mailbox and scheduling (a plain actor endpoint's hop);
//  3. the transport's hop run to completion: endpoints 3 and 4 bound through inline sinks, as
//     instances are: the poller that dequeues runs the handler, which sends the next descriptor
//     (the hop of a chain; transports/hop_pinger.hpp).
//
// The difference is what spry adds on top of the ring. Benchmarks only (bench/transport_bench):
// it burns both cores while it runs.

#include "core/error.hpp"
#include "core/transport_registry.hpp"

#include <optional>
#include <vector>

namespace spry::transports::dpdk {

/// Runs the three ping-pongs, `round_trips` times each (after a warm-up), with a child process
/// started from /proc/self/exe; the program must call the registry's role_main first thing.
core::expected<std::vector<core::hop_measurement>> measure_hops(unsigned round_trips);

/// If this process is the child of measure_hops (SPRY_DPDK_HOPS is set), runs its side and
/// returns the exit code; nullopt otherwise.
std::optional<int> hop_bench_role_main();

} // namespace spry::transports::dpdk
