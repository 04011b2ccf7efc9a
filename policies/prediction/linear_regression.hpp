#pragma once
// Online least-squares line through the last `window` observations, extrapolated to the horizon.
// A short window follows a ramp quickly but amplifies noise; a long window smooths noise but lags
// a change of trend. Mu runs several windows at once and lets a bandit pick (see bandit.hpp).

#include "policies/prediction/rate_predictor.hpp"

#include <cstddef>
#include <vector>

namespace spry::policies::prediction {

class linear_regression final : public rate_predictor {
public:
  /// window >= 1; a window of 1 predicts the last value.
  explicit linear_regression(size_t window);

  std::string_view name() const noexcept override { return "linear_regression"; }
  void observe(double t, double rate) noexcept override;
  double predict(double horizon) const noexcept override;
  /// The prediction for absolute time `t` (the bandit scores models on the next observation).
  double predict_at(double t) const noexcept;

  size_t window() const noexcept { return window_; }
  size_t size() const noexcept { return count_; }

private:
  size_t window_;
  // Ring buffer of the last `window_` observations; no allocation after construction.
  std::vector<double> t_;
  std::vector<double> y_;
  size_t head_ = 0;
  size_t count_ = 0;
  double last_t_ = 0;
};

} // namespace spry::policies::prediction
