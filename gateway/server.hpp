#pragma once
// A running spry node: runtime (instances, transport, pools) + gateway + HTTP listener, started
// and stopped as one. `spry run`, C++ apps (run.hpp), tests and benchmarks all start apps
// through this class, so they exercise the same code.

#include "core/app_spec.hpp"
#include "core/error.hpp"
#include "core/function.hpp"
#include "core/instance_supervisor.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace spry::core {
class load_balancer_registry;
class runtime;
class transport_registry;
} // namespace spry::core

namespace spry::gateway {

class control_plane;
class gateway;
class http_server;
class mqtt_ingress;

/// The registries of everything compiled into this build (transports, balancers).
const core::transport_registry& transports();
const core::load_balancer_registry& balancers();

class remote_hops;

/// How a node of a cluster differs from a whole app on one machine: it starts no instance until
/// the controller places some (set_targets), requests for functions that run elsewhere go to
/// `remote`, and a request waiting for a function without any instance also calls `activate`.
struct cluster_role {
  remote_hops* remote = nullptr;
  std::function<void(core::function_id, core::chain_id)> activate;
  /// JSON object added to GET /status under "cluster", and Prometheus text added to /metrics.
  std::function<std::string()> status;
  std::function<std::string()> metrics;
};

class server {
public:
  /// Starts everything; on error nothing is left running.
  /// `launcher`: how to start instance processes (needed by every transport but local).
  static core::expected<std::unique_ptr<server>> start(
    core::app_spec app, core::function_registry functions,
    std::optional<core::launch_spec> launcher = std::nullopt,
    const cluster_role* cluster = nullptr);
  ~server();

  uint16_t port() const noexcept;
  core::runtime& runtime() noexcept { return *rt_; }
  gateway& gw() noexcept { return *gw_; }
  control_plane& control() noexcept { return *cp_; }
  /// The MQTT client, or null when the app has no `mqtt:`.
  mqtt_ingress* mqtt() noexcept { return mqtt_.get(); }
  /// Stops accepting, drains in-flight requests (up to drain_ms), stops instances. Idempotent.
  void stop(unsigned drain_ms = 5000);

private:
  server() = default;
  std::unique_ptr<core::runtime> rt_;
  std::unique_ptr<gateway> gw_;
  std::unique_ptr<control_plane> cp_;
  std::unique_ptr<http_server> http_;
  std::unique_ptr<mqtt_ingress> mqtt_;
};

} // namespace spry::gateway
