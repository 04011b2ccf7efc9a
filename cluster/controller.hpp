#pragma once
// The cluster's controller: the control-plane actors of one machine (autoscaler, placement,
// routing directory) over every node that joined.
//
// Nodes join over CAF's middleman with mutual TLS (tls.hpp); the controller checks each one's
// spry version and app digest, monitors it, and from then on:
//  - every report interval it expects the node's load report (a node silent for
//    node_timeout is lost, as is one whose connection breaks: a down message);
//  - every `policies.autoscaler.interval` it runs the app's autoscaler over the sum of every
//    node's view (fixed: min_instances) and places the wanted instances (cluster_placement.hpp);
//  - when the placement or a node's ready instances change, it sends each node its assignment and
//    every node the new directory (which node runs what, every node's data address).
// A lost node's instances are placed again on the nodes left; the directory drops it at once, so
// no node sends it more requests (each node fails what was waiting on it when its link breaks).

#include "cluster/messages.hpp"
#include "core/app_spec.hpp"
#include "core/error.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace spry::cluster {

struct controller_options {
  core::app_spec app;
  std::string app_digest;
  std::string version;
  /// Keep each chain's functions on one node when a node has room (no cross-node hops).
  bool chain_aware = true;
  /// Place nothing until this many nodes have joined (so the first node up does not get every
  /// instance: placement keeps running instances where they are).
  uint32_t min_nodes = 1;
  std::chrono::milliseconds report_interval{250};
  /// A node whose reports stop for this long is lost.
  std::chrono::milliseconds node_timeout{1500};
};

/// Spawns the controller actor in `sys` (which must have the middleman loaded). Fails if the
/// app's policies are unknown.
core::expected<caf::actor> spawn_controller(caf::actor_system& sys, controller_options opts);

/// Asks the controller for its view as JSON (nodes, their load, what runs where): the cluster
/// part of GET /status. Blocks up to `timeout`.
std::string controller_status(caf::actor_system& sys, const caf::actor& controller,
                              std::chrono::milliseconds timeout = std::chrono::seconds(2));

} // namespace spry::cluster
