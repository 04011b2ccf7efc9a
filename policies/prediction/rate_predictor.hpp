#pragma once
// Rate prediction: from a series of observed arrival rates of one function, the rate expected a
// little ahead, so an autoscaler can start instances before the load arrives (a cold start takes
// seconds; a scaling tick is 2 s).
//
// Pure policy: observations in, a number out; no clock (each observation carries its time), no
// I/O. One predictor object per function, used by one thread at a time (the autoscaler that owns
// it, or its actor).

#include "policies/policy_registry.hpp"

#include <string_view>

namespace spry::policies::prediction {

class rate_predictor {
public:
  virtual ~rate_predictor() = default;
  virtual std::string_view name() const noexcept = 0;
  /// One observation: `rate` requests/s measured over the interval that ended at time `t`
  /// (seconds on any clock, increasing from call to call).
  virtual void observe(double t, double rate) noexcept = 0;
  /// The rate expected at `horizon` seconds after the last observation (>= 0; 0 before any).
  virtual double predict(double horizon) const noexcept = 0;
};

/// Predictors by config name. Registered explicitly by register_all().
class rate_predictor_registry : public policy_registry<rate_predictor> {
public:
  rate_predictor_registry() : policy_registry("rate predictor") {}
};

/// Every predictor of this build: last_value, linear_regression, mu.
void register_all(rate_predictor_registry& registry);

} // namespace spry::policies::prediction
