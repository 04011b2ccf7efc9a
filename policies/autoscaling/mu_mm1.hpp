#pragma once
// `mu-mm1`: spry's first reading of Mu's autoscaler, kept as an alternative to the published
// rule (mu.hpp). Instead of Mu's confidence ratio it sizes for an M/M/1 utilisation target that
// meets the SLO at its percentile, and caps each function at the whole cluster's CPU.
//
// Per function and tick:
//   lambda = the rate predicted `lookahead_s` ahead by Mu's bandit of regressions (a cold
//            start takes seconds, so size for the load that will be there when it ends);
//   S      = measured mean execution time, c = requests an instance runs at once;
//   u      = the utilisation at which one instance still meets the SLO at its percentile p,
//            from the M/M/1 response time (exponential with rate (1 - u) / S):
//            u = 1 - S ln(1 / (1 - p)) / SLO, kept within [min_utilization, max_utilization];
//   backlog: the queued requests Q must drain within the SLO's slack, max(SLO - S, S), but no
//            faster than new instances can start (lookahead_s);
//   n      = ceil((lambda + Q / slack) * S / (c * u)).
// Nothing is added "just in case" (that is where KPA's 70 % target and panic mode spend
// instances); the price of a wrong prediction is paid by the queue term on the next tick.
// At most what the cluster's CPU could host (the snapshot's cluster_cpu), however long the queue.
// Scaling down waits until the smaller count has held for `scale_down_delay_s` (a cold start
// costs more than a few idle seconds); to zero after `scale_to_zero_grace_s` without traffic.

#include "policies/autoscaling/autoscaler.hpp"
#include "policies/prediction/bandit.hpp"

#include <deque>

namespace spry::policies::autoscaling {

struct mu_mm1_options {
  double lookahead_s = 2;
  double min_utilization = 0.5;
  double max_utilization = 0.9;
  double scale_down_delay_s = 30;
  /// Idle time before going to zero: Knative's effective value (60 s stable window, then 30 s
  /// grace) by default, as Mu runs on Knative and keeps its scale to zero.
  double scale_to_zero_grace_s = 90;
  /// Seed mixed with the function index; scored at lookahead_s, as Mu's own predictor is.
  prediction::bandit_options predictor;
};

class mu_mm1 final : public autoscaler {
public:
  explicit mu_mm1(mu_mm1_options options = {}) : options_(std::move(options)) {}

  std::string_view name() const noexcept override { return "mu-mm1"; }
  void decide(const scaling_snapshot& s, std::vector<scaling_decision>& out) override;

  /// Utilisation target of one instance of `m` under its SLO.
  double utilization_for(const function_metrics& m) const noexcept;
  /// Instances needed for `rate` requests/s and `queued` waiting requests (no history).
  uint32_t instances_for(const function_metrics& m, double rate, double queued) const noexcept;
  /// The rate function `f` is predicted to have (after decide() has seen it at least once).
  double predicted_rate(size_t f) const noexcept;

private:
  struct function_state {
    explicit function_state(prediction::bandit_options o) : predictor(std::move(o)) {}
    prediction::bandit predictor;
    std::deque<std::pair<double, uint32_t>> recent; ///< (time, instances needed) for scale-down
    double idle_since = -1;
  };

  mu_mm1_options options_;
  std::vector<function_state> state_;
};

} // namespace spry::policies::autoscaling
