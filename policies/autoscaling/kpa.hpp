#pragma once
// Knative's Pod Autoscaler (KPA), the baseline, with Knative Serving's defaults as defaults.
//
// Follows knative.dev/serving pkg/autoscaler (metrics collector and scaling/autoscaler.go Scale):
// - The metric is concurrency averaged over time, kept in one-second buckets (Knative's
//   timedFloat64Buckets at the default 1 s granularity). Each snapshot brings the time-averaged
//   concurrency of the interval since the previous one; it is spread over the seconds it covers,
//   so a 2 s lab tick and an irregular live tick fill the same buckets the queue-proxies' 1 s
//   reports would. A window's value is the mean of its buckets (over the buckets seen so far
//   while the first window fills).
// - Stable window 60 s, panic window 10 % of it (6 s). Desired counts are
//   ceil(window value / target), target = TotalValue x target utilisation (0.7), where TotalValue
//   is the revision's containerConcurrency when it has one (any value, also above 100), else
//   container-concurrency-target-default (100); a per-revision target annotation
//   (`target_concurrency`) replaces it, capped by containerConcurrency.
// - Panic when the panic-window count reaches panic_threshold (2x) the ready instances; in panic
//   the count only grows, until the threshold has not been crossed for a stable window.
// - Scaling is bounded per tick by max_scale_up_rate (1000x) and max_scale_down_rate (2x).
// - When the stable window has seen no traffic the desired count is 0, applied only after the
//   scale-to-zero grace period (30 s), so an idle function keeps one instance for 60 + 30 s.
// - Target burst capacity (211 by default): the excess burst capacity
//   floor(ready x TotalValue - target_burst_capacity - panic-window concurrency) below 0 puts
//   Knative's activator in the request path (capacity-aware buffering in front of the instances);
//   at or above 0 requests go straight to the instances. target_burst_capacity 0 never uses the
//   activator while instances exist, -1 always does. Reported as scaling_decision::via_activator.

#include "policies/autoscaling/autoscaler.hpp"

#include <cstdint>
#include <deque>

namespace spry::policies::autoscaling {

struct kpa_options {
  /// The per-revision target annotation (autoscaling.knative.dev/target); 0 = not set.
  double target_concurrency = 0;
  double default_target_concurrency = 100; ///< container-concurrency-target-default
  double target_utilization = 0.7;         ///< container-concurrency-target-percentage
  double stable_window_s = 60;
  double panic_window_percentage = 10;
  double panic_threshold = 2.0;            ///< panic-threshold-percentage 200
  double max_scale_up_rate = 1000;
  double max_scale_down_rate = 2;
  double scale_to_zero_grace_s = 30;
  bool enable_scale_to_zero = true;
  double target_burst_capacity = 211;      ///< -1: activator always in the path
};

class kpa final : public autoscaler {
public:
  explicit kpa(kpa_options options = {}) : options_(options) {}

  std::string_view name() const noexcept override { return "kpa"; }
  void decide(const scaling_snapshot& s, std::vector<scaling_decision>& out) override;

  /// Whether function `f` is in panic mode (for tests and the lab's traces).
  bool panicking(size_t f) const noexcept { return f < state_.size() && state_[f].panic_since >= 0; }
  /// Knative's TotalValue: the concurrency one instance of `m` is sized for at 100 %.
  double total_per_instance(const function_metrics& m) const noexcept;
  /// The concurrency one instance of `m` should carry (TotalValue x target utilisation).
  double target_per_instance(const function_metrics& m) const noexcept;
  /// Stable and panic window averages of function `f` at the last decide() (tests, traces).
  double stable_value(size_t f) const noexcept { return f < state_.size() ? state_[f].stable : 0; }
  double panic_value(size_t f) const noexcept { return f < state_.size() ? state_[f].panic : 0; }

private:
  struct function_state {
    std::deque<double> buckets; ///< concurrency-seconds per whole second, oldest first
    int64_t first_bucket = 0;   ///< the second buckets.front() covers
    int64_t first_seen = -1;    ///< the first second ever recorded (-1: none yet)
    double stable = 0, panic = 0;
    double panic_since = -1; ///< last time the panic threshold was crossed; -1 = not panicking
    uint32_t max_panic_instances = 0;
    double zero_since = -1;  ///< when the desired count first became 0; -1 = it is not 0
  };

  void record(function_state& st, double from, double to, double concurrency) const;
  double window_average(const function_state& st, double now, double window) const noexcept;

  kpa_options options_;
  std::vector<function_state> state_;
};

} // namespace spry::policies::autoscaling
