#pragma once
// Weighted max-min fair share ("water filling"), LaSS's rule under overload: when the functions
// together ask for more than the cluster has, each gets at least its weighted share of the
// capacity; a function that asks for less than its share gets what it asks, and the rest is
// shared again among the others, until all capacity or all demand is used.

#include <vector>

namespace spry::policies::autoscaling {

/// allocations[i] <= demands[i], sum(allocations) <= capacity, and no function can get more
/// without taking from one with a smaller allocation-to-weight ratio. Weights <= 0 count as 1.
std::vector<double> fair_share(const std::vector<double>& demands,
                               const std::vector<double>& weights, double capacity);

} // namespace spry::policies::autoscaling
