#pragma once
// The micro-benchmark next to the local transport: one hop between two actors of one process,
// measured by ping-pong:
//
//  1. the bare primitive: a descriptor sent as a CAF message from one actor to the other
//     (caf::anon_send), answered the same way;
//  2. the transport's hop through mailboxes: endpoints 1 and 2 bound to the two actors, each
//     answering with transport::send (queue-depth accounting + the same mailbox enqueue);
//  3. the transport's hop run to completion: endpoints 3 and 4 bound through inline sinks, as
//     instances are: a send from inside a handler runs the receiver on the same thread once the
//     handler returns (the trampoline), the hop of a local chain.
//
// Both on an actor system of two scheduler threads, like a gateway process on this machine.
// Benchmarks only (bench/transport_bench).

#include "core/error.hpp"
#include "core/transport_registry.hpp"

#include <vector>

namespace spry::transports::local {

/// Runs the three ping-pongs, `round_trips` times each, after a warm-up.
core::expected<std::vector<core::hop_measurement>> measure_hops(unsigned round_trips);

} // namespace spry::transports::local
