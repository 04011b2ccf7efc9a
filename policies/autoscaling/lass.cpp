#include "policies/autoscaling/lass.hpp"

#include "policies/autoscaling/fair_share.hpp"
#include "policies/autoscaling/mmc_model.hpp"

#include <algorithm>
#include <cmath>

namespace spry::policies::autoscaling {

double lass::needed_capacity(const function_metrics& m, double rate) const noexcept {
  if (rate <= 0)
    return 0;
  const double c = std::max<uint32_t>(1, m.instance_concurrency);
  if (m.service_time_s <= 0) // not measured yet: one instance to measure it with
    return 1;
  const double mu = 1.0 / m.service_time_s;
  const double slo = m.slo_s > 0 ? m.slo_s : options_.default_slo_s;
  if (slo <= 0)
    return std::ceil(rate / mu / options_.utilization_without_slo / c - 1e-9);
  const uint32_t servers = servers_for_slo(rate, mu, slo, m.slo_percentile);
  return std::ceil(servers / c - 1e-9);
}

scaling_decision lass::shape(double capacity, uint32_t current) const noexcept {
  const double fmin = std::clamp(options_.min_cpu_fraction, 0.01, 1.0);
  uint32_t n;
  if (capacity > current) {
    n = static_cast<uint32_t>(std::ceil(capacity - 1e-9)); // grow: inflate all, then add
  } else if (current > 0 && capacity / current >= fmin - 1e-12) {
    n = current; // deflate only: keeps warm instances for an instant comeback
  } else {
    n = static_cast<uint32_t>(std::ceil(capacity / fmin - 1e-9)); // deflate to the floor, cut the rest
  }
  n = std::max<uint32_t>(1, n);
  return {n, std::clamp(capacity / n, fmin, 1.0)};
}

void lass::decide(const scaling_snapshot& s, std::vector<scaling_decision>& out) {
  const size_t n = s.functions.size();
  out.resize(n);
  if (state_.size() < n)
    state_.resize(n);
  demand_.assign(n, 0.0);
  weight_.assign(n, 1.0);
  double total_cpu = 0;
  for (size_t f = 0; f < n; ++f) {
    const auto& m = s.functions[f];
    auto& st = state_[f];
    const double a = options_.rate_smoothing;
    st.rate = st.rate < 0 ? m.arrival_rate : (1 - a) * st.rate + a * m.arrival_rate;
    // Requests already waiting are load too: count the backlog as if it arrived this tick.
    const double rate = std::max(st.rate, m.arrival_rate) +
                        (s.interval_s > 0 ? m.queue_length / s.interval_s : 0.0);
    demand_[f] = needed_capacity(m, rate) * m.cpu_per_instance;
    weight_[f] = m.weight;
    total_cpu += demand_[f];
  }
  // Overload: cut everyone to the fair share of the cluster's CPU.
  if (s.cluster_cpu > 0 && total_cpu > s.cluster_cpu)
    demand_ = fair_share(demand_, weight_, s.cluster_cpu);

  for (size_t f = 0; f < n; ++f) {
    const auto& m = s.functions[f];
    auto& st = state_[f];
    const double capacity = m.cpu_per_instance > 0 ? demand_[f] / m.cpu_per_instance : demand_[f];
    const uint32_t current = m.ready_instances + m.pending_instances;
    // Idle: nothing arrived, waits or runs in this tick (the smoothed rate only decays towards
    // zero, so it cannot be the test).
    const bool idle = m.arrival_rate <= 0 && m.queue_length == 0 && m.concurrency <= 0;
    if (!idle) {
      st.idle_since = -1;
      out[f] = capacity > 0 ? shape(capacity, current)
                            : scaling_decision{std::max(1u, current), options_.min_cpu_fraction};
      continue;
    }
    if (st.idle_since < 0)
      st.idle_since = s.now_s;
    if (s.now_s >= st.idle_since + options_.scale_to_zero_grace_s || current == 0)
      out[f] = {0, 1.0};
    else // idle but within the grace period: one instance, deflated as far as allowed
      out[f] = {1, std::clamp(options_.min_cpu_fraction, 0.01, 1.0)};
  }
}

} // namespace spry::policies::autoscaling
