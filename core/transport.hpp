#pragma once
// The transport interface: moves descriptors between endpoints (the gateway and instances).
//
// One transport object exists per process. The runtime binds the endpoints that live in this
// process (the gateway's, or an instance's) to descriptor sinks (core/descriptor_sink.hpp); the
// transport hands every descriptor addressed to a bound endpoint to its sink on the thread that
// took it off the socket, ring or connection, event-driven (no actor polls). An instance's sink
// runs the function right there (run to completion); a plain actor's sink enqueues it to the
// actor's mailbox. Sending goes to any endpoint of the app, in this process or another.
//
// Backpressure is explicit: send() never blocks and never queues without bound. When the
// destination cannot take more (its queue holds queue_capacity descriptors, a ring or socket
// buffer is full) send returns send_status::backpressure and the caller still owns the buffer: the
// gateway answers 503, an instance tries another instance or fails the request.
//
// Delivery failures after send() returned ok: a descriptor the transport finds it cannot hand
// to d.dst (no socket registered under it, its ring unbound or drained after its process died,
// a refused connection) goes to the gateway endpoint with the buffer as it was, marked
// mark_undelivered(b, d.dst) (core/buffer_header.hpp): the request never reached an instance,
// and the gateway sends it to another one. Only a request the destination may have started on
// (a connection cut after the whole request was written) is failed, with
// mark_transport_failed and the transport's reason in the payload. Never lost either way; the
// conformance suite checks it on every transport.
//
// Queue depth: the receiving endpoint calls consumed(endpoint) once for every descriptor it
// starts on (a transport counts a descriptor when it hands it to the sink). The transport uses the difference sent - consumed as the endpoint's queue
// length, for backpressure and as the Q_i that load balancers and autoscalers read.
//
// Threads: bind/unbind/stop are called by the runtime's control thread, never concurrently with
// each other. send, consumed and queue_depth may be called from any thread, concurrently.

#include "core/descriptor.hpp"
#include "core/descriptor_sink.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"

#include <caf/actor.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace caf {
class actor_system;
}

namespace spry::core {

enum class send_status : uint8_t {
  ok,               ///< queued for delivery; ownership of the buffer moved with it
  backpressure,     ///< destination full; caller keeps the buffer
  unknown_endpoint, ///< nothing is bound at dst (never bound, or unbound since)
  closed,           ///< the transport is stopped
  invalid,          ///< the descriptor names no allocated buffer of this process (caller bug)
};

const char* to_string(send_status s) noexcept;

/// Traffic counted per destination endpoint by the transport itself (shm-skmsg: in the kernel,
/// by the eBPF program). The metrics agent exposes it.
struct endpoint_traffic {
  endpoint_id endpoint;
  uint64_t messages;  ///< descriptors delivered to it
  uint64_t bytes;
  uint64_t last_ns;   ///< CLOCK_MONOTONIC of the last one (0: never)
  uint64_t bounced;   ///< descriptors for it that could not be delivered
  /// Slots of the transport's own queue for it (a ring) that are not free: descriptors waiting
  /// to be delivered, or claimed by a sender that has not finished. 0 when idle; stays above 0
  /// if a slot leaked. 0 where the transport cannot see its queue.
  uint64_t queued = 0;
};

struct transport_stats {
  uint64_t sent = 0;        ///< descriptors accepted by send()
  uint64_t delivered = 0;   ///< descriptors handed to a receiving endpoint in this process
  uint64_t rejected = 0;    ///< send() calls that did not return ok
};

class transport {
public:
  virtual ~transport() = default;

  /// Config name ("local", "tcp", "shm-skmsg", "shm-dpdk").
  virtual std::string_view name() const noexcept = 0;

  /// Makes `id` reachable; descriptors for it go to `receiver->deliver()` on the transport's
  /// receive thread (or, for a send from this process's own threads, `post()`; see local).
  /// The transport keeps `receiver` (and its actor) alive until it is destroyed.
  /// Errors: id already bound, id out of range, no actor, or the transport's own resources failed.
  virtual status_or_error bind(endpoint_id id, std::shared_ptr<descriptor_sink> receiver) = 0;
  /// A plain actor endpoint: descriptors arrive in its mailbox as `descriptor` messages.
  status_or_error bind(endpoint_id id, caf::actor receiver) {
    return bind(id, std::make_shared<mailbox_sink>(std::move(receiver)));
  }

  /// Stops delivery to `id`; later sends to it return unknown_endpoint. Descriptors already in
  /// the receiver's mailbox are still delivered (the receiver owns their buffers).
  virtual void unbind(endpoint_id id) noexcept = 0;

  /// Sends `d` to `d.dst`. Never blocks, never throws, does not allocate on the fast path
  /// beyond what the delivery mechanism itself needs.
  virtual send_status send(const descriptor& d) noexcept = 0;

  /// Called by a receiving endpoint once per descriptor it starts on.
  virtual void consumed(endpoint_id id) noexcept = 0;

  /// Descriptors sent to `id` and not yet consumed (0 for endpoints not in this process when
  /// the transport cannot see their queues).
  virtual uint32_t queue_depth(endpoint_id id) const noexcept = 0;

  virtual transport_stats stats() const noexcept = 0;

  // -- delivery on the owner's own thread ------------------------------------------------------
  // Run to completion where the owner already waits: a bound endpoint whose owner runs an event
  // loop of its own (the gateway's HTTP I/O thread) can take its delivery over, so the thread that
  // writes the answer is the one that reads it, with no hand-off from the transport's receive
  // thread. Transports whose receivers are not file descriptors keep delivering themselves.

  /// Stops the transport's own thread reading bound endpoint `id` and returns a file descriptor
  /// that becomes readable when descriptors for `id` arrive (edge-triggered: the owner calls
  /// drain_owned() when it is readable and before it waits on it the first time). -1: this
  /// transport does not support it, or `id` is not bound; delivery stays as it was. Blocks until
  /// the receive thread has let go of `id`. Control thread or the owner's thread.
  virtual int take_delivery(endpoint_id /*id*/) { return -1; }
  /// Owner's thread only, after take_delivery(): delivers every descriptor waiting for `id` to its
  /// sink on this thread (the endpoint is not held to its queue capacity: its sink must finish
  /// with, or queue, each descriptor itself).
  virtual void drain_owned(endpoint_id /*id*/) noexcept {}
  /// Owner's thread only: the transport's receive thread delivers `id` again (what waits is
  /// delivered by it); the owner must not call drain_owned() after this.
  virtual void return_delivery(endpoint_id /*id*/) noexcept {}

  /// Holds the sends this thread makes from now on, to send them together at flush_sends(): an
  /// event loop that starts many requests per wake-up (the gateway's I/O thread) pays one
  /// system call and one wake-up of each receiver for all of them. Returns true when a hold
  /// began now: the caller must then call flush_sends() on this thread before it waits for
  /// anything (the gateway posts it behind the handlers its loop has ready). False: this
  /// transport sends at once, or a hold is already under way on this thread. A held send
  /// returns ok; one the flush cannot place is failed back to the gateway as the send would have
  /// been (503 on backpressure). A transport may let held sends leave before the flush when that
  /// costs nothing (shm-dpdk puts them in the ring at once and holds only the wake-up of a
  /// sleeping poller); by the flush every one has left. A function's own sends are batched by
  /// the transports that run it (shm-skmsg, shm-dpdk) without this.
  virtual bool hold_sends() noexcept { return false; }
  /// Sends what this thread's hold kept and ends the hold. No-op without one.
  virtual void flush_sends() noexcept {}

  /// Per-endpoint counters, if the transport keeps them (empty otherwise). Any thread.
  virtual std::vector<endpoint_traffic> traffic() const { return {}; }

  // -- peers (transports that cross processes) -------------------------------------------------

  /// Where other processes reach local endpoint `id` (tcp: "127.0.0.1:PORT"); empty when the
  /// transport needs no address or `id` is not bound here. Control thread.
  virtual std::string address_of(endpoint_id) const { return {}; }
  /// Tells the transport where remote endpoint `id` is now (it may have been restarted): any
  /// connection to its previous incarnation is dropped. Control thread.
  virtual status_or_error set_peer(endpoint_id, const std::string& /*address*/) { return {}; }
  /// Forgets a remote endpoint; later sends to it return unknown_endpoint. Control thread.
  virtual void remove_peer(endpoint_id) noexcept {}

  /// Instance side: a file descriptor the node agent must receive for local endpoint `id` to
  /// become reachable (shm-skmsg: the endpoint's socket, for the sockmap), or -1. It is passed
  /// with SCM_RIGHTS, so the instance needs no privilege of its own.
  virtual int handover_fd(endpoint_id) const { return -1; }
  /// Node side: text every instance process's transport receives in its
  /// transport_context::node_parameters (shm-dpdk: the EAL file prefix and ring names), so both
  /// halves agree on names the node chose at run time. No ';' (it travels in SPRY_INSTANCE).
  /// Control thread.
  virtual std::string instance_parameters() const { return {}; }
  /// Node side: a file descriptor every instance process inherits (its number reaches the
  /// instance's transport as transport_context::node_fd), or -1. shm-dpdk: the eventfd an
  /// instance writes to wake the gateway's I/O thread when that thread reads its endpoint itself
  /// (take_delivery). Control thread.
  virtual int instance_fd() const { return -1; }
  /// Node side: takes the handed-over fd of remote endpoint `id` (a dup: the caller closes its
  /// own). Control thread.
  virtual status_or_error adopt(endpoint_id id, int /*fd*/) {
    return make_error("transport '" + std::string(name()) + "' takes no file descriptor for endpoint " +
                      std::to_string(id));
  }

  // -- fault injection -------------------------------------------------------------------------

  /// Puts `d` on the wire exactly as given, skipping every sender-side check and the ownership
  /// hand-over: what a faulty or hostile process holding the transport's socket or ring could
  /// send. For tests of the receivers' validation (forged offsets, another chain's pool, replays);
  /// no data path calls it. Transports without a raw descriptor path (local: one process; tcp:
  /// frames carry payloads, not references) return invalid.
  virtual send_status send_forged(const descriptor&) noexcept { return send_status::invalid; }

  /// Unbinds everything; later sends return closed. Idempotent.
  virtual void stop() noexcept = 0;
};

} // namespace spry::core
