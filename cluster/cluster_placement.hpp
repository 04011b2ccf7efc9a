#pragma once
// Where a cluster's instances run: the controller's placement step, a pure function.
//
// Input: every node's capacity and whether it is alive, every function's wanted instance count
// and size, the chains, and what runs where now. Output: how many instances of each function
// each node runs. Rules, in order:
//   1. What runs on a live node keeps running there (no needless cold starts); a lost node's
//      instances are placed again elsewhere.
//   2. A function with more instances than wanted loses them where it has the most.
//   3. Chain-aware (the option): the missing instances of a chain's functions go, together, to a
//      node that already runs part of the chain, else to one node the engine picks for the chain's
//      whole demand, as long as one node has the room; so a request stays on one node and pays no
//      cross-node hop. What does not fit on one node is placed instance by instance.
//   4. Otherwise every missing instance is placed by the app's placement engine (spread, mu: DRF
//      to pick the function, then node scoring), as on one machine.

#include "policies/placement/placement_engine.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace spry::cluster {

struct placement_node {
  double cpu_capacity = 0;
  double memory_mb = 0;
  double speed = 1;
  bool alive = false;
};

struct placement_function {
  uint32_t wanted = 0;
  double cpu = 1;       ///< cores per instance
  double memory_mb = 0; ///< per instance
};

struct placement_input {
  std::vector<placement_node> nodes;
  std::vector<placement_function> functions;
  std::vector<std::vector<uint16_t>> chains;       ///< function ids of each chain
  std::vector<std::vector<uint32_t>> current;      ///< current[f][n]
  bool chain_aware = false;
};

struct placement_output {
  std::vector<std::vector<uint32_t>> counts; ///< counts[f][n]
  std::vector<uint32_t> unplaced;            ///< per function: wanted but no room
};

placement_output place_cluster(const placement_input& in,
                               policies::placement::placement_engine& engine);

/// What the live nodes have not given to placed instances: the room the controller's autoscaler
/// may still grow into (Mu caps a function's instances by it). `placed[f][n]` as in
/// placement_output::counts; dead nodes count for nothing, a node's use above its capacity for
/// zero room (never negative). memory_mb is -1 when no live node states its memory (unbounded).
struct free_room {
  double cpu = 0;
  double memory_mb = 0;
};
free_room free_capacity(const std::vector<placement_node>& nodes,
                        const std::vector<placement_function>& functions,
                        const std::vector<std::vector<uint32_t>>& placed);

} // namespace spry::cluster
