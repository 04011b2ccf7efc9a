#pragma once
// What controller and nodes say to each other, over CAF's middleman (mutual TLS, see tls.hpp).
//
// Conversation:
//   node -> controller  (join_atom, node_hello)            -> join_reply
//   controller -> node  (assign_atom, node_assignment)     instances of each function to run there
//   controller -> node  (directory_atom, cluster_view)     where every function runs, every node's
//                                                          data address; versioned
//   node -> controller  (report_atom, node_report)         load, every report_interval; doubles as
//                                                          the node's heartbeat
//   node -> controller  (activate_atom, uint16_t function, uint16_t chain)
//                                                          a request of `chain` waits for a
//                                                          function that has no instance anywhere
// Both sides monitor each other (down messages when the connection breaks) and the controller also
// declares a node lost when its reports stop (a cut-off link may not break the TCP connection).
//
// Every message comes from another process: receivers check sizes, ranges and ordering (epochs,
// sequence numbers) and refuse what does not fit with a log line (see validate_* below).

#include "policies/autoscaling/autoscaler.hpp"
#include "policies/autoscaling/autoscaler_actor.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace spry::cluster {

using join_atom = caf::atom_constant<caf::atom("cl_join")>;
using assign_atom = caf::atom_constant<caf::atom("cl_assign")>;
using directory_atom = caf::atom_constant<caf::atom("cl_dir")>;
using report_atom = caf::atom_constant<caf::atom("cl_report")>;
using activate_atom = caf::atom_constant<caf::atom("cl_activ")>;

/// A node's introduction. `version` must equal the controller's, `app_digest` the digest of the
/// controller's app file (both run the same app and the same spry).
struct node_hello {
  std::string version;
  std::string app_digest;
  std::string name;
  double cpu_capacity = 0;    ///< cores
  double memory_mb = 0;       ///< MB the node gives instances
  double speed = 1;
  std::string data_address;   ///< HOST:PORT other nodes send cross-node hops to
  std::string http_address;   ///< HOST:PORT of its ingress gateway
  /// Instances it runs already, per function (a node that outlived a controller restart).
  std::vector<uint32_t> running;
};

struct join_reply {
  bool accepted = false;
  std::string reason;        ///< why not (accepted == false)
  uint32_t node_index = 0;   ///< its index in cluster_view::nodes
  /// The cluster's data-link secret: nodes present it when they open a link to each other.
  std::string link_secret;
  uint32_t report_interval_ms = 250;
};

struct node_assignment {
  uint64_t epoch = 0;               ///< increases with every assignment from one controller
  std::vector<uint32_t> instances;  ///< per function: how many this node runs
};

struct view_node {
  std::string name;
  std::string data_address;
  std::string http_address;
  bool alive = false;
  double cpu_capacity = 0, memory_mb = 0, speed = 1;
  double cpu_load = 0;            ///< cores busy running functions (last report)
  uint64_t in_flight = 0;         ///< requests in its gateway (last report)
  uint64_t cross_node_hops = 0;   ///< hops it sent to other nodes, total
  uint64_t requests = 0;          ///< requests its gateway finished, total
};

/// The cluster's routing directory: every node, and how many instances of each function each
/// node runs (ready). Published to every node after every change, `version` increasing.
struct cluster_view {
  uint64_t version = 0;
  std::string controller_id; ///< which controller incarnation published it
  std::vector<view_node> nodes;
  std::vector<std::vector<uint32_t>> ready; ///< ready[function][node]
  /// placed[function][node]: what the controller placed there (ready or still starting), so a
  /// node can hold a request for a function whose instance is on its way instead of failing it.
  std::vector<std::vector<uint32_t>> placed;
};

/// A node's load: sent every report interval (and therefore its heartbeat).
struct node_report {
  uint64_t seq = 0;
  std::vector<policies::autoscaling::function_metrics> functions; ///< the node's last view
  std::vector<uint32_t> ready;     ///< per function: ready instances
  std::vector<uint32_t> starting;  ///< per function: instances starting
  std::vector<uint32_t> held;      ///< per function: requests waiting for an instance
  double cpu_load = 0;             ///< cores busy running functions since the last report
  uint64_t in_flight = 0;
  uint64_t requests = 0;           ///< requests finished, total
  uint64_t cross_node_hops = 0;    ///< total
  uint64_t cold_starts = 0;        ///< total
  double cold_start_seconds = 0;   ///< sum over cold_starts
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_hello& x) {
  return f(caf::meta::type_name("spry_node_hello"), x.version, x.app_digest, x.name,
           x.cpu_capacity, x.memory_mb, x.speed, x.data_address, x.http_address, x.running);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, join_reply& x) {
  return f(caf::meta::type_name("spry_join_reply"), x.accepted, x.reason, x.node_index,
           x.link_secret, x.report_interval_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_assignment& x) {
  return f(caf::meta::type_name("spry_node_assignment"), x.epoch, x.instances);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, view_node& x) {
  return f(caf::meta::type_name("spry_view_node"), x.name, x.data_address, x.http_address, x.alive,
           x.cpu_capacity, x.memory_mb, x.speed, x.cpu_load, x.in_flight, x.cross_node_hops,
           x.requests);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_view& x) {
  return f(caf::meta::type_name("spry_cluster_view"), x.version, x.controller_id, x.nodes, x.ready,
           x.placed);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_report& x) {
  return f(caf::meta::type_name("spry_node_report"), x.seq, x.functions, x.ready, x.starting,
           x.held, x.cpu_load, x.in_flight, x.requests, x.cross_node_hops, x.cold_starts,
           x.cold_start_seconds);
}

/// Registers every type above (both sides must, before the actor system starts).
void add_message_types(caf::actor_system_config& cfg);

/// What is wrong with a message from a peer for an app of `functions` functions, or empty.
std::string validate(const node_hello& h, size_t functions);
std::string validate(const node_assignment& a, size_t functions);
std::string validate(const cluster_view& v, size_t functions);
std::string validate(const node_report& r, size_t functions);

} // namespace spry::cluster
