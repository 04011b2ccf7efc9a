#pragma once
// Where instance processes sit on the network when not on the node's loopback (tcp with
// `tcp.namespaces`: one network namespace per instance, a pod). Provided by the transport's
// side of the node (its prepare_node, node_preparation.hpp); the supervisor only asks for
// sockets and namespaces.

#include "core/error.hpp"
#include "core/ids.hpp"

#include <string>

namespace spry::core {

/// Called on the supervisor's control or monitor thread, never concurrently; may block for a
/// while (it creates namespaces and links).
class instance_network {
public:
  struct pod {
    int netns_fd = -1;    ///< the namespace the process enters before exec; owned by the network
    int listen_fd = -1;   ///< a listening socket inside it; owned by the caller from now on
    std::string address;  ///< "IP:PORT" peers connect to
  };
  virtual ~instance_network() = default;
  /// Creates the pod of `endpoint` (once; later calls reuse it) and opens a listening socket in
  /// it. Errors name what failed (a command, a missing privilege).
  virtual expected<pod> open(endpoint_id endpoint) = 0;
  /// `endpoint` is gone for good (scaled in, or the node stops): its pod is removed. Its
  /// processes must have exited and its sockets be closed by then.
  virtual void close(endpoint_id endpoint) noexcept = 0;
};

} // namespace spry::core
