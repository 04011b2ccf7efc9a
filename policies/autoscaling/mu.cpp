#include "policies/autoscaling/mu.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace spry::policies::autoscaling {

double mu::confidence_ratio(double confidence) const noexcept {
  const double cap = std::max(1.0, options_.max_confidence_ratio);
  return std::min(cap, 1.0 / std::max(confidence, 1e-9));
}

uint32_t mu::instances_for(const function_metrics& m, double rate, double queued,
                           double ratio) const noexcept {
  const double c = std::max<uint32_t>(1, m.instance_concurrency);
  const double s = m.service_time_s;
  // Instances started now serve only after `lookahead_s` (a cold start): sizing to drain the
  // backlog faster than that would only over-allocate.
  const double slack =
    std::max(options_.lookahead_s, m.slo_s > 0 ? std::max(m.slo_s - s, s) : std::max(s, 1e-3));
  const double work = (ratio * std::max(0.0, rate) + queued / slack) * s; // busy servers needed
  return static_cast<uint32_t>(std::ceil(work / c - 1e-9));
}

uint32_t mu::capacity_cap(const scaling_snapshot& s, const function_metrics& m) noexcept {
  constexpr uint32_t none = std::numeric_limits<uint32_t>::max();
  const double current = m.ready_instances + m.pending_instances;
  double room = std::numeric_limits<double>::infinity();
  if (s.free_cpu >= 0 && m.cpu_per_instance > 0)
    room = std::floor(s.free_cpu / m.cpu_per_instance + 1e-9);
  if (s.free_memory_mb >= 0 && m.memory_per_instance_mb > 0)
    room = std::min(room, std::floor(s.free_memory_mb / m.memory_per_instance_mb + 1e-9));
  if (s.free_cpu < 0 && s.cluster_cpu > 0 && m.cpu_per_instance > 0) // free capacity not known
    return static_cast<uint32_t>(std::max(1.0, std::floor(s.cluster_cpu / m.cpu_per_instance)));
  if (!std::isfinite(room))
    return none;
  return static_cast<uint32_t>(std::min(4e9, current + std::max(0.0, room)));
}

double mu::predicted_rate(size_t f) const noexcept {
  return f < state_.size() ? state_[f].predictor.predict(options_.lookahead_s) : 0.0;
}

double mu::confidence_ratio_of(size_t f) const noexcept {
  return f < state_.size() ? confidence_ratio(state_[f].predictor.confidence()) : 1.0;
}

void mu::decide(const scaling_snapshot& s, std::vector<scaling_decision>& out) {
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
      need = instances_for(m, st.predictor.predict(options_.lookahead_s), m.queue_length,
                           confidence_ratio(st.predictor.confidence()));
    }

    // Scale down only to the largest need seen over the delay window.
    st.recent.emplace_back(s.now_s, need);
    while (!st.recent.empty() && st.recent.front().first <= s.now_s - options_.scale_down_delay_s)
      st.recent.pop_front();
    uint32_t held = need;
    for (const auto& r : st.recent)
      held = std::max(held, r.second);
    uint32_t instances = need >= current ? need : std::min(current, held);
    // Growth only into free room: under overload a queue would otherwise turn into requests
    // for more instances than the nodes have left, which nothing can start.
    if (instances > current)
      instances = std::max(current, std::min(instances, capacity_cap(s, m)));

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
