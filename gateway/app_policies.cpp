#include "gateway/app_policies.hpp"

#include "gateway/server.hpp"
#include "policies/load_balancing/load_balancer.hpp"

namespace spry::gateway {

const policies::autoscaling::autoscaler_registry& autoscalers() {
  static const auto reg = [] {
    policies::autoscaling::autoscaler_registry r;
    policies::autoscaling::register_all(r);
    return r;
  }();
  return reg;
}

const policies::placement::placement_registry& placements() {
  static const auto reg = [] {
    policies::placement::placement_registry r;
    policies::placement::register_all(r);
    return r;
  }();
  return reg;
}

namespace {

policies::parameters params_of(const core::policy_choice& c) {
  policies::parameters p;
  for (const auto& [k, v] : c.params)
    p.set(k, v);
  return p;
}

} // namespace

core::expected<app_policies> make_app_policies(const core::app_spec& app) {
  if (auto lb = balancers().create(app.load_balancer); !lb)
    return core::make_error(app.load_balancer_where.prefix() + "policies.load_balancer: " +
                            lb.err().message);
  app_policies out;
  auto as = autoscalers().create(app.autoscaling.policy.name, params_of(app.autoscaling.policy));
  if (!as)
    return core::make_error(app.autoscaling.policy.where.prefix() + "policies.autoscaler: " +
                            as.err().message);
  out.autoscaler = std::move(*as);
  auto pl = placements().create(app.placement.name, params_of(app.placement));
  if (!pl)
    return core::make_error(app.placement.where.prefix() + "policies.placement: " +
                            pl.err().message);
  out.placement = std::move(*pl);
  return out;
}

void set_spec_metrics(policies::autoscaling::function_metrics& m, const core::function_spec& spec) {
  m.instance_concurrency = spec.concurrency;
  m.cpu_per_instance = spec.cpu;
  m.memory_per_instance_mb = static_cast<double>(spec.memory) / 1048576.0;
  m.slo_s = spec.slo_ms / 1000.0;
  m.slo_percentile = spec.slo_percentile;
  m.weight = spec.weight;
}

} // namespace spry::gateway
