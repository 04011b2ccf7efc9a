#pragma once
// Knative's Pod Autoscaler (KPA), the baseline, with Knative Serving's defaults as defaults.
//
// Every tick the observed concurrency (requests in flight per function) is averaged over a stable
// window (60 s) and a panic window (10 % of it, 6 s). The desired count is
// ceil(average / (target concurrency * target utilisation)). If the panic-window count reaches
// the panic threshold (2x) of the ready instances, the autoscaler panics: it follows the panic
// window and never scales down, until the threshold has not been crossed for a stable window.
// Scaling down is at most by half per tick (max scale-down rate 2). When the stable window has
// seen no traffic the desired count is 0, applied only after the scale-to-zero grace period
// (30 s), so an idle function keeps one warm instance for 60 + 30 s.
//
// Follows knative.dev/serving pkg/autoscaler/scaling/autoscaler.go (Scale) in behaviour; the
// windows are fed by the tick samples instead of per-second buckets.

#include "policies/autoscaling/autoscaler.hpp"

#include <deque>

namespace spry::policies::autoscaling {

struct kpa_options {
  double target_concurrency = 100;  ///< container-concurrency-target-default
  double target_utilization = 0.7;  ///< container-concurrency-target-percentage
  double stable_window_s = 60;
  double panic_window_percentage = 10;
  double panic_threshold = 2.0;     ///< panic-threshold-percentage 200
  double max_scale_up_rate = 1000;
  double max_scale_down_rate = 2;
  double scale_to_zero_grace_s = 30;
  bool enable_scale_to_zero = true;
};

class kpa final : public autoscaler {
public:
  explicit kpa(kpa_options options = {}) : options_(options) {}

  std::string_view name() const noexcept override { return "kpa"; }
  void decide(const scaling_snapshot& s, std::vector<scaling_decision>& out) override;

  /// Whether function `f` is in panic mode (for tests and the lab's traces).
  bool panicking(size_t f) const noexcept { return f < state_.size() && state_[f].panic_since >= 0; }
  /// The concurrency one instance of `m` should carry: with a container-concurrency limit,
  /// Knative uses that limit (not the default target) times the utilisation.
  double target_per_instance(const function_metrics& m) const noexcept;

private:
  struct sample {
    double t;
    double interval;
    double concurrency;
  };
  struct function_state {
    std::deque<sample> samples;
    double panic_since = -1; ///< last time the panic threshold was crossed; -1 = not panicking
    uint32_t max_panic_instances = 0;
    double zero_since = -1;  ///< when the desired count first became 0; -1 = it is not 0
  };

  double window_average(const function_state& st, double now, double window) const noexcept;

  kpa_options options_;
  std::vector<function_state> state_;
};

} // namespace spry::policies::autoscaling
