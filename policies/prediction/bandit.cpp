#include "policies/prediction/bandit.hpp"

#include <algorithm>
#include <cmath>

namespace spry::policies::prediction {

bandit::bandit(bandit_options options) : options_(std::move(options)), rng_(options_.seed) {
  if (options_.windows.empty())
    options_.windows.push_back(1);
  for (size_t w : options_.windows)
    models_.emplace_back(w);
  reward_.assign(models_.size(), 0.0);
}

double bandit::reward(double predicted, double observed) noexcept {
  const double p = std::max(0.0, predicted), y = std::max(0.0, observed);
  const double scale = std::max(p, y);
  return scale > 0 ? 1.0 - std::fabs(p - y) / scale : 1.0;
}

void bandit::score(size_t arm, double predicted, double observed) noexcept {
  const double r = reward(predicted, observed);
  // The first scored prediction sets the mean outright: no bias towards the zero start.
  reward_[arm] = scored_ == 0 ? r : (1 - options_.reward_decay) * reward_[arm] +
                                      options_.reward_decay * r;
}

void bandit::observe(double t, double rate) noexcept {
  bool any = false;
  if (options_.horizon_s <= 0) {
    // Score before learning: each model's prediction for this very time, made from what it had.
    if (observations_ > 0) {
      for (size_t i = 0; i < models_.size(); ++i)
        score(i, models_[i].predict_at(t), rate);
      any = true;
    }
  } else {
    // Predictions made horizon_s ago (or more, if observations are sparser) come due now:
    // the observation at t is the first that covers their target time.
    while (!pending_t_.empty() && pending_t_.front() <= t + 1e-9) {
      for (size_t i = 0; i < models_.size(); ++i) {
        score(i, pending_values_.front(), rate);
        pending_values_.pop_front();
      }
      pending_t_.pop_front();
      ++scored_;
      any = true;
    }
  }
  if (any && options_.horizon_s <= 0)
    ++scored_;
  for (auto& m : models_)
    m.observe(t, rate);
  ++observations_;
  if (options_.horizon_s > 0) {
    pending_t_.push_back(t + options_.horizon_s);
    for (const auto& m : models_)
      pending_values_.push_back(m.predict(options_.horizon_s));
  }

  size_t best = 0;
  for (size_t i = 1; i < models_.size(); ++i)
    if (reward_[i] > reward_[best])
      best = i;
  chosen_ = best;
  if (options_.epsilon > 0 && rng_.uniform() < options_.epsilon)
    chosen_ = static_cast<size_t>(rng_.below(models_.size()));
}

double bandit::predict(double horizon) const noexcept { return models_[chosen_].predict(horizon); }

} // namespace spry::policies::prediction
