#pragma once
// Load balancing: which instance of a function takes the next request. The interface lives in
// core/ because the router (core/instance.hpp) calls it on every hop; the algorithms are policies
// (policies/load_balancing/), registered by name.
//
// Pure policy: a snapshot of the candidates' load in, an index out; no I/O, never blocks. A
// balancer object is used by one thread at a time (an instance actor, or the gateway under its
// own lock), so algorithms may keep state (a round-robin cursor) without atomics.

#include "core/error.hpp"
#include "core/ids.hpp"

#include <caf/meta/type_name.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace spry::core {

/// What a balancer knows about one candidate instance.
///
/// `endpoint` and `queue_length` are always filled. The rest are metrics that instances
/// piggyback on every completed request (Mu); 0 means "not measured yet" (a fresh instance, or
/// a data path that does not carry them), and every balancer must behave sensibly then.
struct instance_load {
  endpoint_id endpoint;
  uint32_t queue_length; ///< requests queued or running at the instance (transport::queue_depth)
  double service_time_s = 0;  ///< mean execution time of recent requests, seconds; 0 = unknown
  double departure_rate = 0;  ///< completions per second while busy; 0 = unknown
  uint32_t concurrency = 1;   ///< requests the instance runs at once (its worker count)
};

/// For CAF messages (the load balancer actor of the control plane and the lab).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, instance_load& x) {
  return f(caf::meta::type_name("instance_load"), x.endpoint, x.queue_length, x.service_time_s,
           x.departure_rate, x.concurrency);
}

class load_balancer {
public:
  virtual ~load_balancer() = default;
  virtual std::string_view name() const noexcept = 0;
  /// Index into `candidates` (n >= 1) of the instance to use.
  virtual size_t pick(const instance_load* candidates, size_t n) noexcept = 0;
  /// Restarts the balancer's random sequence, if it has one, so that a run is reproducible
  /// from its seed (the policy lab calls this once per run). Deterministic balancers ignore it.
  virtual void reseed(uint64_t /*seed*/) noexcept {}
};

using load_balancer_factory = std::function<std::unique_ptr<load_balancer>()>;

/// Balancers by config name (`policies.load_balancer`). Registered explicitly by
/// policies::load_balancing::register_all().
class load_balancer_registry {
public:
  status_or_error add(const std::string& name, load_balancer_factory factory);
  expected<std::unique_ptr<load_balancer>> create(const std::string& name) const;
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return factories_.count(name) != 0; }

private:
  std::map<std::string, load_balancer_factory> factories_;
};

} // namespace spry::core
