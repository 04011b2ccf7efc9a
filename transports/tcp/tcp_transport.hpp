#pragma once
// transport "tcp": the Knative-like baseline. Every hop serializes the request (envelope.hpp),
// sends it as one HTTP/1.1 POST over loopback TCP through the kernel, and the receiver copies
// it into a buffer of its own process's pool. Nothing is shared between processes.
//
// Each bound endpoint listens on its own socket (inherited from the node agent when it has one,
// so a restarted instance keeps its address). Peers are other endpoints' addresses, set by the
// control plane ("host:port" or "host:port/prefix" when a front-end proxy such as nginx sits in
// between).
//
// Backpressure: send() refuses synchronously when a peer already has queue_capacity messages in
// flight. A receiver whose queue or pool is full answers 503; that refusal arrives after send()
// returned, so the transport fails the request itself (status overloaded) and returns it to the
// gateway (endpoint 0): nothing is lost, the client gets 503.
//
// The gateway keeps the buffer of every request it sends (its "home" buffer, named by
// buffer_header::home_offset) so the result, or a failure, lands back in it.

#include "core/transport.hpp"
#include "core/transport_registry.hpp"

#include <memory>

namespace spry::transports::tcp {

/// Creates the transport; errors if the context has no pools.
core::expected<std::unique_ptr<core::transport>> make_tcp_transport(const core::transport_context& ctx);

/// Registers "tcp" in `registry`.
void register_transport(core::transport_registry& registry);

/// The HTTP path every endpoint serves.
inline constexpr const char* deliver_path = "/spry/v1/deliver";

} // namespace spry::transports::tcp
