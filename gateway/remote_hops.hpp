#pragma once
// Where a request continues when the function it needs next runs only on other nodes (cluster
// mode). The gateway asks this interface before it holds or fails a request for a function
// without a local instance; the cluster's node link implements it (cluster/node_link.hpp).
//
// Threads: called from the gateway's HTTP/MQTT threads and its receiver actor, concurrently;
// neither method blocks.

#include "core/buffer_header.hpp"
#include "core/ids.hpp"

#include <atomic>
#include <cstdint>

namespace spry::gateway {

/// Names a waiting request of this gateway (echoed back by the node that answers it).
struct remote_ref {
  core::chain_id chain = 0;
  uint32_t slot = 0;
  uint64_t request_id = 0;
};

/// Holder ids at and above this name a peer node (slot holder = remote_holder_base + peer), never
/// an instance endpoint.
inline constexpr core::endpoint_id remote_holder_base = 0xF0000000u;

class remote_hops {
public:
  virtual ~remote_hops() = default;
  /// Some other node runs `f` now (and can be reached, as far as this node knows).
  virtual bool runs_elsewhere(core::function_id f) const noexcept = 0;
  /// An instance of `f` is on its way on another node (placed and starting, or being placed
  /// again because the node that ran it became unreachable): a request for it may wait.
  virtual bool coming(core::function_id f) const noexcept = 0;
  /// Sends the request in `b` (its header and payload_length bytes of payload) to a node that
  /// runs `f`, to continue there at `f`. The buffer stays the caller's and must stay untouched
  /// until the request is completed through gateway::complete_remote or gateway::fail_remote
  /// (the link may write straight from it). Returns the holder id (remote_holder_base + peer), or
  /// core::no_endpoint when no node could take it.
  /// The holder id is stored into `holder` before the request can leave (its answer may come
  /// back on another thread at once).
  virtual core::endpoint_id forward(core::function_id f, const core::buffer_header& b,
                                    remote_ref ref, std::atomic<core::endpoint_id>& holder) noexcept = 0;
};

} // namespace spry::gateway
