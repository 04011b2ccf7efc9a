#pragma once
// Mu's autoscaler (SoCC 2021): the user states only a latency SLO; the instance count follows
// from the predicted incoming rate, the requests already queued and the measured mean execution
// time, with a margin set by how far the prediction can be trusted.
//
// Per function and tick (policies/README.md says which parts are the paper's and which are
// choices made here, where the paper leaves them open):
//   lambda = the rate Mu's bandit of online linear regressions predicts `lookahead_s` ahead (a
//            cold start takes seconds: size for the load that will be there when it ends); the
//            bandit scores its arms at that same horizon (prediction/bandit.hpp);
//   r      = the confidence in that prediction: the chosen arm's discounted relative accuracy,
//            in [0, 1];
//   k      = the confidence ratio 1 / r, at most `max_confidence_ratio`: a predictor that has
//            been 80 % accurate sizes for 1.25 x its prediction, a perfect one for exactly it;
//   S      = measured mean execution time, c = requests an instance runs at once;
//   Q      = requests waiting now; they must drain within the SLO's slack max(SLO - S, S), and
//            no faster than new instances can start (lookahead_s);
//   n      = ceil((k * lambda + Q / slack) * S / c).
// The SLO enters through the slack: the tighter the SLO, the faster the backlog must go.
// Capped by free capacity: at most the instances it has plus those the cluster's unreserved CPU
// and memory could still host (snapshot free_cpu, free_memory_mb); a function never asks for
// what another one holds (Mu's placement arbitrates between functions that want the same free
// room). Scaling down waits until the smaller count has held for `scale_down_delay_s`; to zero
// after `scale_to_zero_grace_s` without traffic.

#include "policies/autoscaling/autoscaler.hpp"
#include "policies/prediction/bandit.hpp"

#include <deque>

namespace spry::policies::autoscaling {

struct mu_options {
  double lookahead_s = 2;
  double max_confidence_ratio = 2;
  double scale_down_delay_s = 30;
  /// Idle time before going to zero: Knative's effective value (60 s stable window, then 30 s
  /// grace) by default, as Mu runs on Knative and keeps its scale to zero.
  double scale_to_zero_grace_s = 90;
  /// Seed mixed with the function index; horizon_s is set to lookahead_s.
  prediction::bandit_options predictor;
};

class mu final : public autoscaler {
public:
  explicit mu(mu_options options = {}) : options_(std::move(options)) {}

  std::string_view name() const noexcept override { return "mu"; }
  void decide(const scaling_snapshot& s, std::vector<scaling_decision>& out) override;

  /// Instances needed for `rate` requests/s, `queued` waiting requests and confidence ratio
  /// `ratio` (no history, no cap).
  uint32_t instances_for(const function_metrics& m, double rate, double queued,
                         double ratio) const noexcept;
  /// The confidence ratio for a prediction trusted to `confidence` (in [0, 1]).
  double confidence_ratio(double confidence) const noexcept;
  /// Instances `m` may have at most, given the snapshot's free capacity (UINT32_MAX: no bound).
  static uint32_t capacity_cap(const scaling_snapshot& s, const function_metrics& m) noexcept;
  /// The rate function `f` is predicted to have, and its confidence ratio (after decide()).
  double predicted_rate(size_t f) const noexcept;
  double confidence_ratio_of(size_t f) const noexcept;

private:
  struct function_state {
    explicit function_state(prediction::bandit_options o) : predictor(std::move(o)) {}
    prediction::bandit predictor;
    std::deque<std::pair<double, uint32_t>> recent; ///< (time, instances needed) for scale-down
    double idle_since = -1;
  };

  mu_options options_;
  std::vector<function_state> state_;
};

} // namespace spry::policies::autoscaling
