#include "policies/autoscaling/mmc_model.hpp"

#include <algorithm>
#include <cmath>

namespace spry::policies::autoscaling {

namespace {

// Erlang B by its recursion B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1)): stable for any c
// (the closed form overflows factorials beyond c ~ 170).
double erlang_b(uint32_t c, double a) noexcept {
  double b = 1.0;
  for (uint32_t k = 1; k <= c; ++k)
    b = a * b / (k + a * b);
  return b;
}

double erlang_c_from_b(uint32_t c, double a, double b) noexcept {
  if (c == 0 || a >= c)
    return 1.0;
  return c * b / (c - a * (1.0 - b));
}

} // namespace

double erlang_c(uint32_t c, double a) noexcept {
  if (a <= 0)
    return 0.0;
  return erlang_c_from_b(c, a, erlang_b(c, a));
}

double wait_exceeds(uint32_t c, double lambda, double mu, double t) noexcept {
  if (lambda <= 0)
    return 0.0;
  const double a = lambda / mu;
  if (c == 0 || a >= c)
    return 1.0;
  return erlang_c(c, a) * std::exp(-(c * mu - lambda) * std::max(0.0, t));
}

uint32_t servers_for_slo(double lambda, double mu, double slo, double percentile,
                         uint32_t max_servers) noexcept {
  if (lambda <= 0 || mu <= 0)
    return 0;
  const double a = lambda / mu;
  const double budget = std::max(0.0, slo - 1.0 / mu);
  const double allowed = 1.0 - percentile;
  // Walk c upwards from the first stable size, carrying Erlang B along: O(c) in all.
  uint32_t c = static_cast<uint32_t>(std::floor(a)) + 1;
  double b = 1.0;
  for (uint32_t k = 1; k <= c; ++k)
    b = a * b / (k + a * b);
  for (; c < max_servers; ++c) {
    const double p_wait = erlang_c_from_b(c, a, b) * std::exp(-(c * mu - lambda) * budget);
    if (p_wait <= allowed)
      return c;
    b = a * b / ((c + 1) + a * b);
  }
  return max_servers;
}

} // namespace spry::policies::autoscaling
