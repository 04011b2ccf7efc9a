#pragma once
// One instance of a function: takes a descriptor, runs the function on the buffer in place,
// finds the next hop itself (direct function routing) and sends the descriptor on. The gateway
// is not involved between functions.
//
// Run to completion: the instance is bound to the transport through an inline_sink
// (core/descriptor_sink.hpp), so the thread that took the descriptor off the socket or ring runs
// the function and sends the next descriptor, with no hand-off to a CAF worker. It stays a CAF
// actor for supervision, exit, and descriptors the sink routes through its mailbox.
//
// The same actor runs inside an instance process (cross-process transports) and inside the
// gateway process (transport "local"); only the transport behind `tp` differs.

#include "core/app_spec.hpp"
#include "core/descriptor_sink.hpp"
#include "core/endpoint_board.hpp"
#include "core/endpoint_directory.hpp"
#include "core/function.hpp"
#include "core/ids.hpp"
#include "core/pool.hpp"
#include "core/route_table.hpp"
#include "core/transport.hpp"
#include "core/versioned.hpp"
#include "core/load_balancer.hpp"

#include <caf/actor.hpp>

#include <memory>
#include <string>
#include <vector>

namespace caf {
class actor_system;
}

namespace spry::core {

/// Requests that visit more functions than this fail as a routing loop.
inline constexpr uint16_t max_hops = 64;

/// Counters an instance keeps about itself (read by tests and, later, the metrics agent).
struct instance_counters {
  std::atomic<uint64_t> processed{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> rejected_descriptors{0}; ///< failed validation: never touched
};

struct instance_context {
  endpoint_id self = no_endpoint;
  function_id function = no_function;
  std::string function_name;
  function_body body;
  /// Pools by chain id; owned by the runtime, outlive the actor.
  std::vector<pool>* pools = nullptr;
  versioned<route_table>* routes = nullptr;
  versioned<endpoint_directory>* directory = nullptr;
  transport* tp = nullptr;
  std::unique_ptr<load_balancer> balancer;
  std::shared_ptr<instance_counters> counters = std::make_shared<instance_counters>();
  /// Live load of every endpoint (shared memory); null in bare tests.
  endpoint_board* board = nullptr;
  /// Buffers are shared with other processes (shm-skmsg, shm-dpdk): a descriptor is valid only
  /// if the buffer's ownership word names this endpoint, which every sender sets before it
  /// sends. A forged or replayed descriptor for a buffer another process holds is refused.
  bool shared_pools = false;
  /// broker: results always go back to the gateway, which routes (Knative's path).
  routing_mode routing = routing_mode::direct;
};

struct spawned_instance {
  caf::actor actor;
  /// Runs the function on the delivering thread (or hands it to `actor` when busy).
  std::shared_ptr<inline_sink> sink;
};

/// Spawns the instance. The caller binds `sink` to the transport at ctx.self (or, to spread
/// descriptors over CAF workers, binds `actor`: its mailbox runs them through the same sink).
spawned_instance spawn_instance(caf::actor_system& sys, instance_context ctx);

/// Sends a request's buffer on to the next hop after `from` ran (or back to the gateway), as
/// the instance does. Exposed so the gateway can use the same routing for the head hop.
/// On any failure it marks the buffer and sends it to the gateway; if even that fails it returns
/// false and the caller still owns the buffer.
struct hop_router {
  versioned<route_table>::reader routes;
  versioned<endpoint_directory>::reader directory;
  transport* tp;
  load_balancer* balancer;
  std::vector<instance_load> scratch;
  /// Where Q_i and Cap_i come from (and where arrivals are counted); null: transport queues only.
  endpoint_board* board = nullptr;

  /// Picks an instance of `f` and sends it `d` (d.dst filled in). Tries each instance once on
  /// backpressure. Returns ok, or the last failure.
  /// `holder`, if given, is set to the chosen endpoint before the send (so a reply can never
  /// arrive before it is recorded).
  send_status send_to_function(function_id f, descriptor d,
                               std::atomic<endpoint_id>* holder = nullptr);
};

} // namespace spry::core
