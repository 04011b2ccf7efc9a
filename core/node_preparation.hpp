#pragma once
// What a transport sets up on a node before the gateway starts (registered as the transport
// entry's prepare_node, transport_registry.hpp): for tcp with tcp.namespaces, network namespaces
// as pods. The gateway process (spry run, spry::gateway::run) asks the app's transport once and
// keeps what it returns until the gateway has stopped; core and the gateway never name the
// transport.

#include "core/instance_network.hpp"

#include <memory>
#include <string>

namespace spry::core {

class node_preparation {
public:
  /// Undoes the preparation (removes pods, rules, programs). Runs after the gateway stopped and
  /// every instance process exited.
  virtual ~node_preparation() = default;
  /// Where instance processes sit on the network (pods), shared with the instance supervisor;
  /// null: on the node's loopback.
  virtual std::shared_ptr<instance_network> network() const = 0;
  /// One line for the start-up report, once the gateway listens ("pods: ..."), or empty.
  virtual std::string started() const { return {}; }
  /// One line after the gateway stopped (what was counted over the run), or empty.
  virtual std::string stopped() const { return {}; }
};

} // namespace spry::core
