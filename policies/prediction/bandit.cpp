#include "policies/prediction/bandit.hpp"

#include <cmath>

namespace spry::policies::prediction {

bandit::bandit(bandit_options options) : options_(std::move(options)), rng_(options_.seed) {
  if (options_.windows.empty())
    options_.windows.push_back(1);
  for (size_t w : options_.windows)
    models_.emplace_back(w);
  error_.assign(models_.size(), 0.0);
}

void bandit::observe(double t, double rate) noexcept {
  // Score before learning: each model's error on a value it has not seen.
  if (observations_ > 0) {
    const double a = options_.error_decay;
    for (size_t i = 0; i < models_.size(); ++i) {
      const double e = std::fabs(models_[i].predict_at(t) - rate);
      // The first scored observation sets the error outright: no bias towards the zero start.
      error_[i] = observations_ == 1 ? e : (1 - a) * error_[i] + a * e;
    }
  }
  for (auto& m : models_)
    m.observe(t, rate);
  ++observations_;

  size_t best = 0;
  for (size_t i = 1; i < models_.size(); ++i)
    if (error_[i] < error_[best])
      best = i;
  chosen_ = best;
  if (options_.epsilon > 0 && rng_.uniform() < options_.epsilon)
    chosen_ = static_cast<size_t>(rng_.below(models_.size()));
}

double bandit::predict(double horizon) const noexcept { return models_[chosen_].predict(horizon); }

} // namespace spry::policies::prediction
