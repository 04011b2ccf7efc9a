#pragma once
// Mu's rate predictor (SoCC 2021): several online linear-regression models over different window
// lengths, and a multi-armed bandit that picks which model's prediction to use.
//
// Each observation first scores every model on it (what did the model predict for this time?):
// the score is an exponentially weighted mean of the absolute error, so "recent" error counts
// most and the choice follows changes in the traffic's character. Every model is scored on every
// observation (full information: it costs a few multiplications), which converges faster than
// scoring only the arm that was played. The arm to use until the next observation is the one
// with the lowest recent error, except with probability `epsilon` a uniformly random one
// (exploration: it keeps a model from being written off on a short unlucky stretch and is what
// makes this a bandit rather than a fixed argmin). The random stream is seeded: reproducible.

#include "policies/prediction/linear_regression.hpp"
#include "policies/random.hpp"

#include <vector>

namespace spry::policies::prediction {

struct bandit_options {
  std::vector<size_t> windows{1, 2, 4, 8, 16, 32}; ///< one regression model per window length
  double error_decay = 0.3; ///< weight of the newest error in each arm's moving error
  double epsilon = 0.05;    ///< probability of playing a random arm
  uint64_t seed = 0x5eed;
};

class bandit final : public rate_predictor {
public:
  explicit bandit(bandit_options options = {});

  std::string_view name() const noexcept override { return "mu"; }
  void observe(double t, double rate) noexcept override;
  double predict(double horizon) const noexcept override;

  /// The arm in use (index into options.windows) and every arm's recent error, for tests and
  /// the lab's reports.
  size_t chosen() const noexcept { return chosen_; }
  double recent_error(size_t arm) const noexcept { return error_[arm]; }
  size_t arms() const noexcept { return models_.size(); }

private:
  bandit_options options_;
  std::vector<linear_regression> models_;
  std::vector<double> error_;
  size_t observations_ = 0;
  size_t chosen_ = 0;
  random_stream rng_;
};

} // namespace spry::policies::prediction
