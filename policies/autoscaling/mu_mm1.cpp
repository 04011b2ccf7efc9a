#include "policies/autoscaling/mu_mm1.hpp"

#include <algorithm>
#include <cmath>

namespace spry::policies::autoscaling {

double mu_mm1::utilization_for(const function_metrics& m) const noexcept {
  if (m.slo_s <= 0 || m.service_time_s <= 0)
    return options_.max_utilization;
  const double p = std::clamp(m.slo_percentile, 0.5, 0.9999);
  const double u = 1.0 - m.service_time_s * std::log(1.0 / (1.0 - p)) / m.slo_s;
  return std::clamp(u, options_.min_utilization, options_.max_utilization);
}

uint32_t mu_mm1::instances_for(const function_metrics& m, double rate, double queued) const noexcept {
  const double c = std::max<uint32_t>(1, m.instance_concurrency);
  const double s = m.service_time_s;
  // Instances started now serve only after `lookahead_s` (a cold start): sizing to drain the
  // backlog faster than that would only over-allocate.
  const double slack =
    std::max(options_.lookahead_s, m.slo_s > 0 ? std::max(m.slo_s - s, s) : std::max(s, 1e-3));
  const double work = (std::max(0.0, rate) + queued / slack) * s; // busy servers needed
  return static_cast<uint32_t>(std::ceil(work / (c * utilization_for(m)) - 1e-9));
}

double mu_mm1::predicted_rate(size_t f) const noexcept {
  return f < state_.size() ? state_[f].predictor.predict(options_.lookahead_s) : 0.0;
}

void mu_mm1::decide(const scaling_snapshot& s, std::vector<scaling_decision>& out) {
  out.resize(s.functions.size());
  while (state_.size() < s.functions.size()) {
    auto o = options_.predictor;
    o.horizon_s = options_.lookahead_s;
    o.seed = options_.predictor.seed ^ (0x9e3779b97f4a7c15ull * (state_.size() + 1));
    state_.emplace_back(std::move(o));
  }
  for (size_t f = 0; f < s.functions.size(); ++f) {
    const auto& m = s.functions[f];
    auto& st = state_[f];
    st.predictor.observe(s.now_s, m.arrival_rate);
    const uint32_t current = m.ready_instances + m.pending_instances;

    uint32_t need;
    if (m.service_time_s <= 0) {
      // Nothing finished yet, so no execution time to size with: follow the requests in flight
      // (at least one instance while there are any) and keep what is starting.
      const double c = std::max<uint32_t>(1, m.instance_concurrency);
      need = std::max(current, static_cast<uint32_t>(std::ceil(m.concurrency / c - 1e-9)));
      if (m.queue_length > 0 || m.arrival_rate > 0)
        need = std::max<uint32_t>(need, 1);
    } else {
      need = instances_for(m, st.predictor.predict(options_.lookahead_s), m.queue_length);
    }

    // Scale down only to the largest need seen over the delay window.
    st.recent.emplace_back(s.now_s, need);
    while (!st.recent.empty() && st.recent.front().first <= s.now_s - options_.scale_down_delay_s)
      st.recent.pop_front();
    uint32_t held = need;
    for (const auto& r : st.recent)
      held = std::max(held, r.second);
    uint32_t instances = need >= current ? need : std::min(current, held);
    // Never ask for more than the whole cluster could host: on a constrained edge the excess
    // cannot be placed anyway, and a queue that grows under overload would otherwise turn into
    // requests for thousands of instances.
    if (s.cluster_cpu > 0 && m.cpu_per_instance > 0)
      instances = std::min<uint32_t>(
        instances, static_cast<uint32_t>(std::max(1.0, std::floor(s.cluster_cpu / m.cpu_per_instance))));

    const bool idle = m.arrival_rate <= 0 && m.queue_length == 0 && m.concurrency <= 0;
    if (instances == 0 || idle) {
      if (st.idle_since < 0)
        st.idle_since = s.now_s;
      if (s.now_s >= st.idle_since + options_.scale_to_zero_grace_s)
        instances = 0;
      else if (instances == 0) // within the grace period: keep one warm if one runs
        instances = std::min<uint32_t>(1, current);
    } else {
      st.idle_since = -1;
    }
    out[f] = {instances, 1.0};
  }
}

} // namespace spry::policies::autoscaling
