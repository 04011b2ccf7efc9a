#pragma once
// Where a request goes after a function ran, and what each way of not getting there means: one
// outcome type and one outcome-to-status table for the instance (direct routing), the gateway
// (broker routing, head hops, held requests) and every transport's failure path. Before this the
// same decisions and HTTP statuses were written out in core/instance.cpp and gateway/gateway.cpp.

#include "core/buffer_header.hpp"
#include "core/descriptor.hpp"
#include "core/ids.hpp"
#include "core/transport.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace spry::core {

class message;
class route_table;
struct hop_router;

enum class hop_outcome : uint8_t {
  sent,         ///< on its way to an instance of the next function
  end_of_chain, ///< nothing follows: the result goes back to the client
  no_route,     ///< no route from the function for the request's topic
  hop_limit,    ///< the request visited max_hops functions (a routing loop)
  no_instance,  ///< the next function has no instance (scaled to zero): hold it, or fail it
  overloaded,   ///< every instance of the next function refused it (backpressure)
  unreachable,  ///< the send failed otherwise (closed, unknown endpoint, invalid)
};

struct next_hop {
  hop_outcome outcome = hop_outcome::end_of_chain;
  function_id next = no_function; ///< set from the route lookup on
  send_status st = send_status::ok; ///< the last send's status, for the reason text
};

/// The route lookup and the hop limit for a request that function `from` just finished; no
/// send: outcome `sent` here means "routable to `next`".
next_hop next_function(const route_table& routes, chain_id chain, function_id from,
                       std::string_view topic, uint16_t hop_count);

/// What a send to the instances of the next function came to. An unknown endpoint is
/// `no_instance` whether or not the directory lists one (scaled to zero, or the one it lists
/// died or is not bound yet): the request may be held until an instance is ready.
hop_outcome outcome_of(send_status st) noexcept;

/// The whole hop: next_function, then (when routable) send `d` to an instance of `next`
/// through `r` (b.t_sent_ns stamped first). The caller still owns the buffer unless `sent`.
next_hop route_next(hop_router& r, descriptor d, buffer_header& b, function_id from,
                    std::string_view topic, std::atomic<endpoint_id>* holder = nullptr);

// -- the table -----------------------------------------------------------------------------------

struct hop_failure {
  buffer_status status;
  uint16_t http_status; ///< 0: not a failure (sent, end_of_chain)
};

/// buffer_status and HTTP status of each outcome: the one place that maps them.
hop_failure failure_of(hop_outcome o) noexcept;

/// The HTTP status for a request that a send with status `st` could not start (head hops, held
/// requests): 503 on backpressure, else 502.
inline uint16_t http_status_of(send_status st) noexcept {
  return failure_of(outcome_of(st)).http_status;
}

/// Marks `m`'s request failed for `h` (status and reason in the buffer). `from_name` names the
/// function that ran. No-op for sent, end_of_chain and no_instance (the latter only sets the
/// status: the payload travels on unchanged to wherever the request is held).
void fail_hop(message& m, const next_hop& h, std::string_view from_name);

} // namespace spry::core
