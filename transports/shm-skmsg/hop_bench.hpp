#pragma once
// The micro-benchmark next to the transport: one hop between two processes, measured by
// ping-pong between this process (which loads the sk_msg program, as the gateway does) and a
// child it starts from /proc/self/exe:
//
//  1. the bare primitive: two established loopback TCP sockets in a sockmap of their own with
//     spry's sk_msg program attached, one per process; each side blocks in recv() and answers
//     with one 16-byte send() that the program redirects into the other socket's ingress queue;
//  2. the transport's hop through mailboxes: endpoint 1 here and endpoint 2 in the child (an
//     instance-role transport whose socket the node adopts, as in a chain), each an actor that
//     sends the descriptor straight back: send (owner swap + send()), the epoll reader, the
//     actor's mailbox and scheduling (a plain actor endpoint's hop);
//  3. the transport's hop run to completion: endpoints 3 and 4 bound through inline sinks, as
//     instances are: the epoll reader runs the handler, which sends the next descriptor (the hop
//     of a chain; transports/hop_pinger.hpp).
//
// The difference is what spry adds on top of sk_msg. Benchmarks only (bench/transport_bench).
// Needs root (or CAP_BPF + CAP_NET_ADMIN) for the program.

#include "core/error.hpp"
#include "core/transport_registry.hpp"

#include <optional>
#include <vector>

namespace spry::transports::skmsg {

/// Runs the three ping-pongs, `round_trips` times each (after a warm-up), with a child process; the
/// program must call the registry's role_main first thing.
core::expected<std::vector<core::hop_measurement>> measure_hops(unsigned round_trips);

/// If this process is the child of measure_hops (SPRY_SKMSG_HOPS is set), runs its side and
/// returns the exit code; nullopt otherwise.
std::optional<int> hop_bench_role_main();

} // namespace spry::transports::skmsg
