#pragma once
// The naive baseline: the next rate is the last one observed. What a reactive autoscaler
// (Knative's KPA) effectively assumes.

#include "policies/prediction/rate_predictor.hpp"

namespace spry::policies::prediction {

class last_value final : public rate_predictor {
public:
  std::string_view name() const noexcept override { return "last_value"; }
  void observe(double, double rate) noexcept override { last_ = rate; }
  double predict(double) const noexcept override { return last_; }

private:
  double last_ = 0;
};

} // namespace spry::policies::prediction
