#include "policies/prediction/linear_regression.hpp"

#include <algorithm>

namespace spry::policies::prediction {

linear_regression::linear_regression(size_t window)
  : window_(std::max<size_t>(1, window)), t_(window_), y_(window_) {}

void linear_regression::observe(double t, double rate) noexcept {
  t_[head_] = t;
  y_[head_] = rate;
  head_ = (head_ + 1) % window_;
  count_ = std::min(count_ + 1, window_);
  last_t_ = t;
}

double linear_regression::predict(double horizon) const noexcept {
  return predict_at(last_t_ + horizon);
}

double linear_regression::predict_at(double t) const noexcept {
  if (count_ == 0)
    return 0;
  // Times are centred on the newest observation so that hours of absolute time do not cost
  // precision in the sums.
  double st = 0, sy = 0;
  for (size_t i = 0; i < count_; ++i) {
    st += t_[i] - last_t_;
    sy += y_[i];
  }
  const double n = static_cast<double>(count_);
  const double mt = st / n, my = sy / n;
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < count_; ++i) {
    const double dx = t_[i] - last_t_ - mt;
    sxx += dx * dx;
    sxy += dx * (y_[i] - my);
  }
  const double slope = sxx > 0 ? sxy / sxx : 0.0;
  const double y = my + slope * (t - last_t_ - mt);
  return std::max(0.0, y); // a rate is never negative, whatever the line says
}

} // namespace spry::policies::prediction
