#include "policies/autoscaling/kpa.hpp"

#include <algorithm>
#include <cmath>

namespace spry::policies::autoscaling {

double kpa::total_per_instance(const function_metrics& m) const noexcept {
  // Knative's ResolveMetricTarget: containerConcurrency when set, else the default target; an
  // explicit target annotation wins, but never above containerConcurrency.
  const double cc = static_cast<double>(m.instance_concurrency);
  double total = cc > 0 ? cc : options_.default_target_concurrency;
  if (options_.target_concurrency > 0)
    total = cc > 0 ? std::min(options_.target_concurrency, cc) : options_.target_concurrency;
  return total;
}

double kpa::target_per_instance(const function_metrics& m) const noexcept {
  return std::max(0.01, total_per_instance(m) * options_.target_utilization);
}

void kpa::record(function_state& st, double from, double to, double concurrency) const {
  // The interval's time-averaged concurrency, spread over the whole seconds it covers: each
  // bucket ends up holding that second's concurrency-seconds, i.e. its average concurrency.
  if (to <= from)
    return;
  const auto first = static_cast<int64_t>(std::floor(from + 1e-9));
  const auto last = static_cast<int64_t>(std::ceil(to - 1e-9)) - 1;
  if (st.first_seen < 0) {
    st.first_seen = first;
    st.first_bucket = first;
  }
  for (int64_t k = first; k <= last; ++k) {
    if (k < st.first_bucket)
      continue; // older than what is kept: outside every window
    while (st.first_bucket + static_cast<int64_t>(st.buckets.size()) <= k)
      st.buckets.push_back(0);
    const double overlap =
      std::min(to, static_cast<double>(k + 1)) - std::max(from, static_cast<double>(k));
    if (overlap > 0)
      st.buckets[static_cast<size_t>(k - st.first_bucket)] += concurrency * overlap;
  }
  // Keep one stable window of seconds (and one more for the partial second).
  const auto keep = static_cast<int64_t>(std::ceil(options_.stable_window_s)) + 1;
  while (static_cast<int64_t>(st.buckets.size()) > keep) {
    st.buckets.pop_front();
    st.first_bucket++;
  }
}

double kpa::window_average(const function_state& st, double now, double window) const noexcept {
  // Knative: the buckets of the last `window` seconds ending with the current one, summed and
  // divided by their number; before a whole window has been seen, by the seconds seen so far.
  if (st.first_seen < 0)
    return 0;
  const auto end = static_cast<int64_t>(std::ceil(now - 1e-9)) - 1; // the last whole second
  const auto n = std::max<int64_t>(1, static_cast<int64_t>(std::llround(window)));
  const int64_t begin = std::max(end - n + 1, st.first_seen);
  if (end < begin)
    return 0;
  double sum = 0;
  for (int64_t k = std::max(begin, st.first_bucket); k <= end; ++k) {
    const auto i = static_cast<size_t>(k - st.first_bucket);
    if (i < st.buckets.size())
      sum += st.buckets[i];
  }
  return sum / static_cast<double>(end - begin + 1);
}

void kpa::decide(const scaling_snapshot& s, std::vector<scaling_decision>& out) {
  out.resize(s.functions.size());
  if (state_.size() < s.functions.size())
    state_.resize(s.functions.size());
  const double stable_w = options_.stable_window_s;
  const double panic_w = std::max(1.0, stable_w * options_.panic_window_percentage / 100.0);
  for (size_t f = 0; f < s.functions.size(); ++f) {
    const auto& m = s.functions[f];
    auto& st = state_[f];
    record(st, s.now_s - s.interval_s, s.now_s, m.concurrency);

    const double target = target_per_instance(m);
    st.stable = window_average(st, s.now_s, stable_w);
    st.panic = window_average(st, s.now_s, panic_w);
    const double ready = std::max(1.0, static_cast<double>(m.ready_instances));
    const double max_up = std::ceil(options_.max_scale_up_rate * ready);
    const double max_down =
      m.ready_instances ? std::floor(ready / options_.max_scale_down_rate) : 0.0;
    const double dspc = std::ceil(st.stable / target - 1e-9);
    const double dppc = std::ceil(st.panic / target - 1e-9);
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

    // Excess burst capacity, on the ready instances and the panic-window concurrency (Knative
    // does not want knee-jerk activator moves either way).
    bool via_activator = true;
    if (options_.target_burst_capacity == 0) {
      via_activator = false;
    } else if (options_.target_burst_capacity > 0) {
      const double total = static_cast<double>(m.ready_instances) * total_per_instance(m);
      via_activator = std::floor(total - options_.target_burst_capacity - st.panic) < 0;
    }
    out[f] = {instances, 1.0, via_activator};
  }
}

} // namespace spry::policies::autoscaling
