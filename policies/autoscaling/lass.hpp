#pragma once
// LaSS (HPDC 2021): latency-sensitive serverless at the edge.
//
// 1. Sizing: per function, an M/M/c model (mmc_model.hpp) with the arrival rate (smoothed) and
//    the measured service rate; the smallest number of servers meeting the latency SLO at its
//    percentile, in instances of `instance_concurrency` servers each.
// 2. Fair share under overload: if the functions together want more CPU than the cluster has,
//    each is cut to its weighted max-min fair share (fair_share.hpp), so a surge of one function
//    cannot starve the others.
// 3. Reclamation: a function that needs less than it has is first deflated (each instance's CPU
//    shrunk, down to `min_cpu_fraction`), and only terminated beyond that. Growing back from a
//    deflated state is instant (no cold start), which is how LaSS re-provisions within hundreds of
//    milliseconds. Capacity is counted in full-size instance units: n instances at fraction f
//    give n * f.
// With no traffic for `scale_to_zero_grace_s` a function goes to zero; until then it keeps one
// instance, deflated to the floor.

#include "policies/autoscaling/autoscaler.hpp"

namespace spry::policies::autoscaling {

struct lass_options {
  double rate_smoothing = 0.5;   ///< weight of the newest rate in the moving average
  double min_cpu_fraction = 0.5; ///< deflate no further than this, terminate instead
  double default_slo_s = 0;      ///< used when a function states none; 0: size to utilisation
  double utilization_without_slo = 0.7;
  /// Idle time before going to zero. Knative's effective value (60 s stable window, then 30 s
  /// grace) by default, so that comparisons with KPA isolate the sizing.
  double scale_to_zero_grace_s = 90;
};

class lass final : public autoscaler {
public:
  explicit lass(lass_options options = {}) : options_(options) {}

  std::string_view name() const noexcept override { return "lass"; }
  void decide(const scaling_snapshot& s, std::vector<scaling_decision>& out) override;

  /// Capacity function `m` needs, in full-size instances (before fair share), at `rate`.
  double needed_capacity(const function_metrics& m, double rate) const noexcept;
  /// Instances and CPU fraction that provide `capacity` given `current` instances (deflation
  /// before termination). capacity > 0.
  scaling_decision shape(double capacity, uint32_t current) const noexcept;

private:
  struct function_state {
    double rate = -1; ///< smoothed arrival rate; -1 = no observation yet
    double idle_since = -1;
  };

  lass_options options_;
  std::vector<function_state> state_;
  std::vector<double> demand_, weight_; // scratch, reused every tick
};

} // namespace spry::policies::autoscaling
