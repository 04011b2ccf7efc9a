#pragma once
// Mu's rate predictor (SoCC 2021): several online linear-regression models over different window
// lengths, and a multi-armed bandit that picks which model's prediction to use.
//
// Scored at the horizon it is used for. An autoscaler asks for the rate `horizon_s` ahead (a
// cold start's worth), so every arm's prediction for t + horizon_s is recorded when the
// observation at t arrives, and scored against the first observation at or after that time. A
// model that is good one tick ahead but poor two ticks ahead is not picked for a two-tick job.
// With horizon_s = 0 an arm is scored on the next observation, whenever it comes.
//
// The reward of one prediction p of an observed rate y is its relative accuracy
//     r = 1 - |p - y| / max(p, y)        (1 when both are 0),
// in [0, 1]: 1 exact, 0.5 off by a factor of two, 0 predicting traffic where there is none (or
// none where there is some). Relative, so a function at 1000 req/s does not weigh a model's
// error 1000 times more than at 1 req/s, and bounded, so one outlier cannot bury an arm.
// Each arm keeps an exponentially discounted mean of its rewards (`reward_decay`, the weight of
// the newest): the traffic's character changes, and the bandit must follow it (a discounted
// bandit). Every arm is scored on every observation (full information: any model's prediction
// can be checked, at the cost of a few multiplications), which converges faster than scoring
// only the arm that was played. The arm played until the next observation is the one with the
// highest discounted reward, except with probability `epsilon` a uniformly random one
// (epsilon-greedy exploration, from a seeded stream: reproducible).
//
// The chosen arm's discounted reward is also how much the prediction can be trusted: Mu's
// autoscaler sizes for predicted / confidence (see autoscaling/mu.hpp).

#include "policies/prediction/linear_regression.hpp"
#include "policies/random.hpp"

#include <deque>
#include <vector>

namespace spry::policies::prediction {

struct bandit_options {
  std::vector<size_t> windows{1, 2, 4, 8, 16, 32}; ///< one regression model per window length
  double horizon_s = 0;      ///< predictions are scored this far ahead; 0 = the next observation
  double reward_decay = 0.3; ///< weight of the newest reward in each arm's discounted mean
  double epsilon = 0.05;     ///< probability of playing a random arm
  uint64_t seed = 0x5eed;
};

class bandit final : public rate_predictor {
public:
  explicit bandit(bandit_options options = {});

  std::string_view name() const noexcept override { return "mu"; }
  void observe(double t, double rate) noexcept override;
  double predict(double horizon) const noexcept override;

  /// The reward of predicting `predicted` when `observed` came (see above).
  static double reward(double predicted, double observed) noexcept;

  /// The arm in use (index into options.windows), every arm's discounted reward, and the
  /// chosen arm's (1 before anything was scored: nothing says the models are wrong yet).
  size_t chosen() const noexcept { return chosen_; }
  double recent_reward(size_t arm) const noexcept { return reward_[arm]; }
  double confidence() const noexcept { return scored_ ? reward_[chosen_] : 1.0; }
  size_t arms() const noexcept { return models_.size(); }
  /// Predictions scored so far (per arm; every arm is scored on the same observations).
  size_t scored() const noexcept { return scored_; }

private:
  void score(size_t arm, double predicted, double observed) noexcept;

  bandit_options options_;
  std::vector<linear_regression> models_;
  std::vector<double> reward_;
  // Predictions waiting for their horizon, oldest first: a target time, and one value per arm
  // in pending_values_ (flat, so a tick allocates nothing once the deques have grown).
  std::deque<double> pending_t_;
  std::deque<double> pending_values_;
  size_t observations_ = 0;
  size_t scored_ = 0;
  size_t chosen_ = 0;
  random_stream rng_;
};

} // namespace spry::policies::prediction
