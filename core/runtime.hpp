#pragma once
// The running app on one node: actor system, transport, pools, route table, instance directory
// and the instances themselves. The gateway sits on top of it (endpoint 0).
//
// Lifecycle: start() builds everything or fails with an error that names the cause; the
// destructor (or stop()) stops instances first and then frees the pools they pointed into.

#include "core/app_spec.hpp"
#include "core/endpoint_directory.hpp"
#include "core/function.hpp"
#include "core/function_library.hpp"
#include "core/instance.hpp"
#include "core/pool.hpp"
#include "core/route_table.hpp"
#include "core/transport.hpp"
#include "core/transport_registry.hpp"
#include "core/versioned.hpp"
#include "policies/load_balancing/load_balancer.hpp"

#include <caf/actor.hpp>

#include <memory>
#include <vector>

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

namespace spry::core {

struct runtime_options {
  const transport_registry* transports = nullptr;
  const policies::load_balancing::load_balancer_registry* balancers = nullptr;
  /// Try MFD_HUGETLB for pools.
  bool hugepages = true;
};

struct instance_info {
  endpoint_id endpoint;
  function_id function;
  caf::actor actor;
  std::shared_ptr<instance_counters> counters;
};

class runtime {
public:
  /// Loads the app's function libraries into `functions`, checks the app, creates the
  /// transport, the pools and the route table, and starts min_instances of every function.
  static expected<std::unique_ptr<runtime>> start(app_spec app, function_registry functions,
                                                  const runtime_options& opts);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Stops every instance and the transport; idempotent.
  void stop();

  const app_spec& app() const noexcept { return app_; }
  caf::actor_system& system() noexcept { return *system_; }
  transport& tp() noexcept { return *tp_; }
  std::vector<pool>& pools() noexcept { return pools_; }
  versioned<route_table>& routes() noexcept { return routes_; }
  versioned<endpoint_directory>& directory() noexcept { return directory_; }
  const std::vector<instance_info>& instances() const noexcept { return instances_; }
  /// A fresh balancer of the app's configured kind (one per thread/actor that picks).
  std::unique_ptr<policies::load_balancing::load_balancer> make_balancer() const;

private:
  runtime();

  app_spec app_;
  function_registry functions_;
  std::vector<std::shared_ptr<function_library>> libraries_;
  const policies::load_balancing::load_balancer_registry* balancers_ = nullptr;
  std::unique_ptr<caf::actor_system_config> config_;
  std::unique_ptr<caf::actor_system> system_;
  std::unique_ptr<transport> tp_;
  std::vector<pool> pools_;
  versioned<route_table> routes_;
  versioned<endpoint_directory> directory_;
  std::vector<instance_info> instances_;
  bool stopped_ = false;
};

} // namespace spry::core
