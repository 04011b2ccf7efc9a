#pragma once
// The tcp transport's node preparation (its registry entry's prepare_node): with
// tcp.namespaces, the pods of pod_network.hpp, with the gateway's thread moved into its own pod
// and the gateway listening on the pod's address. Without it, nothing.

#include "core/app_spec.hpp"
#include "core/error.hpp"
#include "core/node_preparation.hpp"

#include <memory>

namespace spry::transports::tcp {

/// Null when the app does not ask for namespaces. Otherwise creates the pods and moves the
/// calling thread into the gateway's pod: call it on the gateway's only thread, before it starts
/// any other (every thread and socket it opens then lives in the pod). Sets app.gateway.host to
/// the pod's address. Errors name what is missing (root, iproute2, iptables, kernel support).
core::expected<std::unique_ptr<core::node_preparation>> prepare_pods(core::app_spec& app);

} // namespace spry::transports::tcp
