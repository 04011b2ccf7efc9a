#pragma once
// A sidecar: a process a transport puts in front of every instance (tcp.sidecar: Knative's
// queue-proxy), which owns the endpoint's listening socket and forwards to the instance's own
// socket behind it. The instance supervisor starts and supervises it with its instance; the
// transport alone knows what it is and how it is told its role (registered as the transport
// entry's `sidecar`, transport_registry.hpp), so core/ names no transport.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

namespace spry::core {

/// What a sidecar process is given at its start, as numbers in its own descriptor table.
struct sidecar_launch {
  int control_fd = -1;        ///< its end of the control channel (EOF: the agent wants it gone)
  int listen_fd = -1;         ///< the endpoint's listening socket, which peers connect to
  uint16_t upstream_port = 0; ///< the instance's own loopback socket behind it
  uint32_t concurrency = 1;   ///< requests the instance runs at once
  pid_t parent = 0;           ///< the node agent (a sidecar outliving it exits)
  std::string name;           ///< the instance's label ("work#3"), for messages
};

/// A transport's kind of sidecar.
struct sidecar_kind {
  /// What it is called in process labels and messages ("queue-proxy").
  std::string name;
  /// The environment entry ("VARIABLE=value") that makes this program, re-run, take the
  /// sidecar's role (the transport's role_main reads it). Called on the supervisor's threads.
  std::function<std::string(const sidecar_launch&)> role_env;
};

} // namespace spry::core
