#pragma once
// The running app on one node: actor system, transport, pools, route table, instance directory
// and the instances themselves. The gateway sits on top of it (endpoint 0).
//
// Two roles share this class:
//  - node (the gateway process): start() builds everything, the gateway binds endpoint 0, then
//    launch() starts every instance: as actors here (transport local) or as processes through
//    the instance supervisor (every other transport).
//  - instance (a process started by the supervisor): start() with a role builds the same pieces
//    for this process alone, launch() spawns its one instance actor.
//
// Lifecycle: start() fails with an error that names the cause; stop()/the destructor stop
// instances first and only then free the pools they point into.

#include "core/app_spec.hpp"
#include "core/endpoint_board.hpp"
#include "core/endpoint_directory.hpp"
#include "core/function.hpp"
#include "core/function_library.hpp"
#include "core/instance.hpp"
#include "core/instance_supervisor.hpp"
#include "core/pool.hpp"
#include "core/route_table.hpp"
#include "core/transport.hpp"
#include "core/transport_registry.hpp"
#include "core/versioned.hpp"
#include "core/load_balancer.hpp"

#include <caf/actor.hpp>

#include <functional>
#include <mutex>
#include <memory>
#include <optional>
#include <vector>

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

namespace spry::core {

struct runtime_options {
  const transport_registry* transports = nullptr;
  const load_balancer_registry* balancers = nullptr;
  /// Try MFD_HUGETLB for pools.
  bool hugepages = true;
  /// How to start instance processes (cross-process transports); none = this program cannot.
  std::optional<launch_spec> launcher;
  /// launch() starts no instance (a cluster node: the controller places every one, and they
  /// start through add_instance).
  bool no_initial_instances = false;
};

struct instance_info {
  endpoint_id endpoint;
  function_id function;
  caf::actor actor;
  std::shared_ptr<instance_counters> counters;
  /// The sink that runs it on the delivering thread (concurrency 1; null otherwise). The
  /// transport keeps every sink it was bound to, so a removed instance releases its handler
  /// through this, or its function (and library) would stay alive until the transport stops.
  std::shared_ptr<inline_sink> runner;
};

class runtime {
public:
  struct launch_hooks {
    /// An instance process is gone; requests it held must be failed. Supervisor thread.
    std::function<void(endpoint_id, const std::string& why)> on_instance_down;
    /// An instance became ready (after a start, a restart or add_instance) after `start_ns`
    /// nanoseconds from its process start (0 for in-process instances). Supervisor thread.
    std::function<void(endpoint_id, uint64_t start_ns)> on_instance_ready;
    /// CPUs to pin the first instance(s) of a function to (placement); empty = any.
    std::function<std::vector<unsigned>(function_id)> initial_cpus;
  };

  /// Everything start() refuses about an app before it builds anything, given the functions it
  /// can call (`functions`: the app's libraries already loaded into it): the route graph, a
  /// handler for every function (naming the handlers there are), the load balancer, and a
  /// transport of this build that can do what the app asks of it (sidecars, a front end).
  /// `spry check` and `spry run` call this same check, so check accepts nothing run refuses.
  static status_or_error check(const app_spec& app, const function_registry& functions,
                               const runtime_options& opts);

  /// Loads the app's function libraries into `functions`, checks the app, creates the actor
  /// system, pools, transport and route table. `role` set: this process is that instance.
  static expected<std::unique_ptr<runtime>> start(app_spec app, function_registry functions,
                                                  const runtime_options& opts,
                                                  const instance_role* role = nullptr);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Starts the instances (node role: all of them, and waits until they are ready; instance
  /// role: this process's one). Call after the gateway bound endpoint 0.
  status_or_error launch(launch_hooks hooks = {});

  /// Stops instance processes (their exits are then no longer reported); idempotent.
  void stop_instances();

  // -- scaling (node role, one control thread) -------------------------------------------------
  /// Starts one more instance of `f`, pinned to `cpus` (processes; empty = any). It takes
  /// requests once ready (the directory lists it then); on_instance_ready reports it.
  expected<endpoint_id> add_instance(function_id f, std::vector<unsigned> cpus = {});
  /// Starts several at once, {function, cpus} each: their processes start together (a chain
  /// warming up from zero pays about one start, not one per function). One result per entry,
  /// in order, as add_instance would give it.
  std::vector<expected<endpoint_id>>
  add_instances(const std::vector<std::pair<function_id, std::vector<unsigned>>>& wanted);
  /// First step of removing an instance: no new request is sent to it (directory without it).
  void retire_instance(endpoint_id ep);
  /// Every process now routes without `ep` (so nothing new can arrive there).
  bool retired_everywhere(endpoint_id ep) const;
  /// Last step, once it holds nothing (board in_flight 0): stops it; its exit is not a crash.
  void remove_instance(endpoint_id ep);
  // -- hot reload (node role, admin path) -----------------------------------------------------
  /// Loads the function library at `path` and makes its handlers replace, by handler name, those
  /// of the loaded libraries that define any of them: instances started from now on run the new
  /// code; running instances keep the code they started with (replace them through
  /// add_instance/retire_instance/remove_instance). Refused, changing nothing, if the library
  /// does not load, fails its ABI check, clashes with a library it does not replace, or lacks
  /// a handler the app uses. Returns the paths of the libraries it replaced. On every
  /// transport: instance processes started from now on load library_paths(). The library is
  /// loaded (and checked) in this process, as the app's libraries were at start.
  /// Thread-safe; blocks for the dlopen.
  expected<std::vector<std::string>> replace_library(const std::string& path);
  /// The function libraries the node runs now, in load order: the app's `libraries:` until a
  /// hot reload replaces some. The one list every instance starts from (in this process, or
  /// passed to an instance process in its role). Thread-safe.
  std::vector<std::string> library_paths() const;

  /// Live load of every endpoint.
  const endpoint_board& board() const noexcept { return board_; }
  endpoint_board& board() noexcept { return board_; }
  /// Stops every instance and the transport and waits for every actor of this process (the
  /// gateway's included: destroy the gateway first); idempotent.
  void stop();

  const app_spec& app() const noexcept { return app_; }
  caf::actor_system& system() noexcept { return *system_; }
  transport& tp() noexcept { return *tp_; }
  std::vector<pool>& pools() noexcept { return pools_; }
  versioned<route_table>& routes() noexcept { return routes_; }
  versioned<endpoint_directory>& directory() noexcept { return directory_; }
  /// Instances hosted in this process (actors).
  std::vector<instance_info> instances() const;
  /// Instance processes (empty for transport local).
  std::vector<instance_status> processes() const;
  /// Instances of `f` starting or restarting (processes only; 0 for in-process instances).
  uint32_t instances_coming(function_id f) const noexcept;
  /// Number of instances the app runs (in this process or as processes).
  size_t instance_count() const;
  routing_mode routing() const noexcept { return routing_; }
  /// Instances map the gateway's pools (shared-memory transports).
  bool shared_pools() const noexcept { return shared_pools_; }
  /// Instances are actors in this process (transport local), not processes.
  bool in_process_instances() const noexcept { return in_process_instances_; }
  /// A fresh balancer of the app's configured kind (one per thread/actor that picks).
  std::unique_ptr<load_balancer> make_balancer() const;

private:
  runtime();
  status_or_error spawn_local(endpoint_id ep, function_id f);

  app_spec app_;
  // functions_ and libraries_ change on a hot reload while the control thread may start an
  // instance (spawn_local reads a body): both under functions_mtx_. A body keeps its library
  // mapped, so a replaced library is dlclose()d once the last instance running it is gone.
  mutable std::mutex functions_mtx_;
  function_registry functions_;
  std::vector<std::shared_ptr<function_library>> libraries_;
  runtime_options opts_;
  std::optional<instance_role> role_;
  bool in_process_instances_ = true;
  bool listen_socket_per_endpoint_ = false;
  std::optional<sidecar_kind> sidecar_; // the transport's, when the app asks for sidecars
  bool shared_pools_ = false;
  front_end_factory front_end_;
  routing_mode routing_ = routing_mode::direct;
  std::unique_ptr<caf::actor_system_config> config_;
  std::unique_ptr<caf::actor_system> system_;
  std::vector<pool> pools_;
  std::unique_ptr<transport> tp_;
  versioned<route_table> routes_;
  versioned<endpoint_directory> directory_;
  mutable std::mutex instances_mtx_; // instances_ changes while the gateway reads it
  std::vector<instance_info> instances_;
  endpoint_board board_;
  endpoint_id next_endpoint_ = 1;
  uint32_t tp_max_endpoints_ = 64;
  launch_hooks launch_hooks_;
  std::unique_ptr<instance_supervisor> supervisor_;
  std::vector<endpoint_id> peers_set_;
  bool stopped_ = false;
};

} // namespace spry::core
