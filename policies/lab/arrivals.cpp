#include "policies/lab/arrivals.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace spry::policies::lab {

namespace {
constexpr double never = std::numeric_limits<double>::infinity();
}

double poisson_arrivals::next(double now, random_stream& rng) {
  return rate_ > 0 ? now + rng.exponential(1.0 / rate_) : never;
}

mmpp_arrivals::mmpp_arrivals(std::vector<double> rates, std::vector<double> mean_sojourn_s,
                             random_stream& rng)
  : rates_(std::move(rates)), sojourn_(std::move(mean_sojourn_s)) {
  // Start in a random state, a random way into it: no artificial alignment of many sources.
  state_ = rates_.empty() ? 0 : static_cast<size_t>(rng.below(rates_.size()));
  state_end_ = rates_.empty() ? never : rng.exponential(sojourn_[state_]);
}

double mmpp_arrivals::next(double now, random_stream& rng) {
  if (rates_.empty())
    return never;
  double t = now;
  // Memorylessness: a candidate gap that crosses the state's end is simply redrawn from the end
  // in the next state.
  for (int guard = 0; guard < 1000000; ++guard) {
    const double rate = rates_[state_];
    const double cand = rate > 0 ? t + rng.exponential(1.0 / rate) : never;
    if (cand < state_end_)
      return cand;
    t = state_end_;
    state_ = (state_ + 1) % rates_.size();
    state_end_ = t + rng.exponential(sojourn_[state_]);
  }
  return never; // every state has rate 0
}

double diurnal_arrivals::next(double now, random_stream& rng) {
  const double peak = mean_ * (1 + std::fabs(amplitude_));
  if (peak <= 0)
    return never;
  double t = now;
  for (;;) { // Lewis-Shedler thinning
    t += rng.exponential(1.0 / peak);
    const double r = mean_ * (1 + amplitude_ * std::sin(6.283185307179586 * t / period_ + phase_));
    if (rng.uniform() * peak <= r)
      return t;
  }
}

counted_arrivals::counted_arrivals(std::vector<uint32_t> counts, double interval_s,
                                   double spread_s, double start_s)
  : counts_(std::move(counts)), interval_(interval_s),
    spread_(std::min(spread_s, interval_s)), start_(start_s) {}

double counted_arrivals::next(double, random_stream& rng) {
  while (pending_.empty()) {
    if (index_ >= counts_.size())
      return never;
    const double base = start_ + index_ * interval_;
    pending_.resize(counts_[index_]);
    for (auto& t : pending_)
      t = base + rng.uniform() * spread_;
    std::sort(pending_.begin(), pending_.end(), std::greater<double>());
    ++index_;
  }
  const double t = pending_.back();
  pending_.pop_back();
  return t;
}

} // namespace spry::policies::lab
