#include "policies/autoscaling/kpa.hpp"

#include <algorithm>
#include <cmath>

namespace spry::policies::autoscaling {

double kpa::target_per_instance(const function_metrics& m) const noexcept {
  // Knative: with containerConcurrency > 0 the target defaults to that limit, so an instance that
  // can run one request at a time is targeted at 0.7 requests in flight, not 70.
  const double cc = m.instance_concurrency ? static_cast<double>(m.instance_concurrency)
                                           : options_.target_concurrency;
  return std::max(0.01, std::min(options_.target_concurrency, cc) * options_.target_utilization);
}

double kpa::window_average(const function_state& st, double now, double window) const noexcept {
  // Time-weighted mean of the samples inside (now - window, now]; a sample straddling the start
  // counts for the part inside. Before a whole window has been seen, the mean of what exists
  // (Knative averages over the buckets it has).
  double sum = 0, weight = 0;
  for (auto i = st.samples.rbegin(); i != st.samples.rend(); ++i) {
    const double start = i->t - i->interval;
    if (i->t <= now - window + 1e-9)
      break;
    const double w = i->t - std::max(start, now - window);
    sum += i->concurrency * w;
    weight += w;
  }
  return weight > 0 ? sum / weight : 0.0;
}

void kpa::decide(const scaling_snapshot& s, std::vector<scaling_decision>& out) {
  out.resize(s.functions.size());
  if (state_.size() < s.functions.size())
    state_.resize(s.functions.size());
  const double stable_w = options_.stable_window_s;
  const double panic_w = stable_w * options_.panic_window_percentage / 100.0;
  for (size_t f = 0; f < s.functions.size(); ++f) {
    const auto& m = s.functions[f];
    auto& st = state_[f];
    st.samples.push_back({s.now_s, s.interval_s, m.concurrency});
    while (!st.samples.empty() && st.samples.front().t <= s.now_s - stable_w)
      st.samples.pop_front();

    const double target = target_per_instance(m);
    const double stable = window_average(st, s.now_s, stable_w);
    const double panic = window_average(st, s.now_s, panic_w);
    const double ready = std::max(1.0, static_cast<double>(m.ready_instances));
    const double max_up = std::ceil(options_.max_scale_up_rate * ready);
    const double max_down =
      m.ready_instances ? std::floor(ready / options_.max_scale_down_rate) : 0.0;
    const double dspc = std::ceil(stable / target - 1e-9);
    const double dppc = std::ceil(panic / target - 1e-9);
    const double want_stable = std::min(std::max(dspc, max_down), max_up);
    const double want_panic = std::min(std::max(dppc, max_down), max_up);

    const bool over_threshold = dppc / ready >= options_.panic_threshold;
    if (over_threshold) {
      st.panic_since = s.now_s; // entering, or extending, panic
    } else if (st.panic_since >= 0 && s.now_s > st.panic_since + stable_w) {
      // The surge has made its way into the stable window: back to normal.
      st.panic_since = -1;
      st.max_panic_instances = 0;
    }
    double want = want_stable;
    if (st.panic_since >= 0) {
      // In panic, only up: the panic window is too short to trust for scaling down. The larger
      // of the two windows, because the stable one can lead when the surge is fading.
      st.max_panic_instances =
        std::max(st.max_panic_instances, static_cast<uint32_t>(std::max(want_stable, want_panic)));
      want = st.max_panic_instances;
    }

    uint32_t instances = static_cast<uint32_t>(want);
    if (instances == 0) {
      if (st.zero_since < 0)
        st.zero_since = s.now_s;
      const bool keep = !options_.enable_scale_to_zero ||
                        s.now_s < st.zero_since + options_.scale_to_zero_grace_s;
      // During the grace period keep what is running (at least one instance); never start one.
      if (keep)
        instances = std::min<uint32_t>(1, m.ready_instances + m.pending_instances);
      if (!options_.enable_scale_to_zero)
        instances = 1;
    } else {
      st.zero_since = -1;
    }
    out[f] = {instances, 1.0};
  }
}

} // namespace spry::policies::autoscaling
