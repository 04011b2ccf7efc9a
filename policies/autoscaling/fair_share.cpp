#include "policies/autoscaling/fair_share.hpp"

#include <algorithm>
#include <numeric>

namespace spry::policies::autoscaling {

std::vector<double> fair_share(const std::vector<double>& demands,
                               const std::vector<double>& weights, double capacity) {
  const size_t n = demands.size();
  std::vector<double> alloc(n, 0.0);
  auto weight = [&](size_t i) { return i < weights.size() && weights[i] > 0 ? weights[i] : 1.0; };
  // Serve functions in increasing order of demand per weight: each either is satisfied by its
  // share of what is left, or every remaining one is capped at that same level.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return demands[a] / weight(a) < demands[b] / weight(b);
  });
  double left = std::max(0.0, capacity);
  double weight_left = 0;
  for (size_t i = 0; i < n; ++i)
    weight_left += weight(i);
  for (size_t k = 0; k < n; ++k) {
    const size_t i = order[k];
    const double share = weight_left > 0 ? left * weight(i) / weight_left : 0.0;
    alloc[i] = std::min(std::max(0.0, demands[i]), share);
    left -= alloc[i];
    weight_left -= weight(i);
  }
  return alloc;
}

} // namespace spry::policies::autoscaling
