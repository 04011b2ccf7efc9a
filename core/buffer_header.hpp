#pragma once
// The fixed header at the start of every pool buffer. The gateway fills it when a request
// enters; every function on the chain reads and updates it in place; instances piggyback their
// metrics on it (queue length, execution time) so the control plane learns them for free.
//
// It lives in shared memory that other processes write, so every reader treats its fields as
// untrusted input (see message.cpp and the gateway's response path).

#include "core/ids.hpp"

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace spry::core {

/// Outcome of a request as recorded in the buffer; the gateway maps it to an HTTP status.
enum class buffer_status : uint16_t {
  ok = 0,
  function_error = 1, ///< the function called fail() or threw; payload holds the reason
  no_route = 2,       ///< no route and no instance for the next hop
  overloaded = 3,     ///< next hop refused by backpressure
  hop_limit = 4,      ///< routing loop: too many hops
  bad_buffer = 5,     ///< a function left the header inconsistent (e.g. length > capacity)
  /// The next function has no instance (scaled to zero): the request comes back to the gateway
  /// untouched, which holds it until an instance is ready (Knative's activator) or fails it.
  no_instance = 6,
  /// A transport could not hand the buffer to the instance it was sent to (no socket registered
  /// under its endpoint, its ring unbound or drained after it died, a refused connection): the
  /// request never reached that instance. The payload is carried back unchanged and
  /// `failed_at` names the endpoint; the gateway sends it to another (or the restarted)
  /// instance of the same function, or holds it until one is ready, and writes a reason only if
  /// it gives up. Never set for a request an instance may have started on.
  undelivered = 7,
  /// A transport lost the request on its way to endpoint `failed_at` after that instance may
  /// have got it (a connection broken after the request was written): the payload holds the
  /// transport's reason. Never sent again (the function may have side effects); the gateway
  /// answers 502 with how that instance ended once the supervisor says (or with this reason).
  transport_failed = 8,
};

/// buffer_header::owner of a buffer the gateway took back from a dead instance.
inline constexpr uint32_t reclaimed_owner = UINT32_MAX - 1;

inline constexpr unsigned topic_capacity = 64;
inline constexpr unsigned content_type_capacity = 64;

struct buffer_header {
  uint64_t request_id;     ///< unique per gateway; matches a request with its buffer
  uint64_t t_ingress_ns;   ///< when the gateway accepted the request (core::now_ns)
  uint64_t t_sent_ns;      ///< when the last hop's descriptor was sent
  uint64_t exec_ns;        ///< piggyback: execution time of the last function
  uint32_t payload_length; ///< bytes of payload after the header
  chain_id chain;          ///< chain the request belongs to (== pool id)
  uint16_t hop_count;      ///< functions run so far
  uint16_t status;         ///< buffer_status
  uint16_t http_status;    ///< status the function wants the gateway to answer (0 = default)
  function_id function;    ///< function that wrote the buffer last
  uint16_t queue_length;   ///< piggyback: queue of the last instance when it took the request
  uint32_t instance;       ///< piggyback: endpoint id of the last instance
  /// Shared-memory transports: the endpoint that holds the buffer or that it is on its way to.
  /// Set (compare-and-swap) by the sender before every hop; the gateway reclaims the buffers
  /// of an instance that died by swapping its id for reclaimed_owner.
  uint32_t owner;
  /// Offset of the request's buffer in the gateway's pool. Equal to the buffer's own offset on
  /// shared-memory transports; copying transports (tcp) carry it along so the result lands back
  /// in the buffer the gateway is holding for the request.
  uint64_t home_offset;
  char topic[topic_capacity];               ///< NUL-padded; decides the next hop
  char content_type[content_type_capacity]; ///< NUL-padded; response content type
  /// With status `undelivered` or `transport_failed`: the endpoint the transport could not
  /// deliver the buffer to (the gateway does not send the request there again before that
  /// instance is known gone, and answers with how it ended). Meaningless otherwise.
  uint32_t failed_at;
  char reserved[60];
};

static_assert(sizeof(buffer_header) == 256, "buffer header is a fixed 256-byte wire struct");
static_assert(std::is_trivially_copyable_v<buffer_header>);
static_assert(offsetof(buffer_header, failed_at) == 192 && offsetof(buffer_header, reserved) == 196,
              "the header's layout is shared by every process mapping the pool");

/// Marks `b` as a request its transport could not deliver to endpoint `to` (see
/// buffer_status::undelivered). The payload and every other field are left as they are: the
/// request goes on from where it was. Called by a transport that owns the buffer (it took it
/// back from `to`); noexcept, no allocation.
inline void mark_undelivered(buffer_header& b, endpoint_id to) noexcept {
  b.failed_at = to;
  b.status = static_cast<uint16_t>(buffer_status::undelivered);
}

/// Marks `b` as lost by its transport on its way to endpoint `to` after that instance may have
/// got it (see buffer_status::transport_failed). The caller has written the transport's reason
/// into the payload (message::fail).
inline void mark_transport_failed(buffer_header& b, endpoint_id to) noexcept {
  b.failed_at = to;
  b.status = static_cast<uint16_t>(buffer_status::transport_failed);
}

} // namespace spry::core
