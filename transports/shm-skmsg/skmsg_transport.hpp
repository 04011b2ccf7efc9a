#pragma once
// transport "shm-skmsg": SPRIGHT's event-driven zero-copy data path.
//
// Requests live in the chain's shared-memory pool; only 16-byte descriptors move. Every endpoint
// owns one established loopback TCP socket, registered in a BPF_MAP_TYPE_SOCKMAP under its
// endpoint id. Sending is one non-blocking 16-byte send() on a local endpoint's socket; the sk_msg
// program (bpf/sk_msg_redirect.bpf.c) reads the destination id and redirects the message into that
// endpoint's socket ingress queue inside the kernel. Receivers block in epoll: an idle instance
// costs no CPU.
//
// Privilege: only the gateway (node) process loads the program and owns the maps, which needs
// root or CAP_BPF + CAP_NET_ADMIN. Instance processes create their sockets unprivileged and hand
// them to the gateway over the control channel (SCM_RIGHTS); the gateway inserts them.
//
// Backpressure: a receiving endpoint that has queue_capacity descriptors unconsumed stops reading
// its socket; the kernel queue fills and senders get EAGAIN -> send_status::backpressure.

#include "core/transport_registry.hpp"

namespace spry::transports::skmsg {

void register_transport(core::transport_registry& registry);

} // namespace spry::transports::skmsg
