#pragma once
// Confidence intervals over seeds, and the verdict on a claim drawn from one.
//
// A lab run is one sample: its seed fixes the arrivals and service-time draws, and every policy
// set in an experiment runs on the same seeds. A metric's spread over seeds is therefore the
// uncertainty of a claim about it. Two intervals are used, both Student t at 95 %:
// - per policy, over its per-seed values (mean ± half-width), for the summary tables;
// - per claim, over the paired per-seed differences policy - baseline: the seed's arrivals are
//   common to both, so pairing removes the workload's own variance from the comparison (a busy
//   seed is busy for both policies), which an unpaired interval would count twice.
// The t quantile comes from Boost.Math (header only, in Debian's libboost-dev).

#include <cstddef>
#include <string>
#include <vector>

namespace spry::policies::lab {

/// Mean and a two-sided Student t confidence interval over independent samples.
struct interval {
  size_t n = 0;
  double mean = 0;
  double sd = 0;         ///< sample standard deviation (n - 1); 0 when n < 2
  double half_width = 0; ///< t(1 - (1 - level) / 2, n - 1) x sd / sqrt(n); 0 when n < 2
  double lo() const noexcept { return mean - half_width; }
  double hi() const noexcept { return mean + half_width; }
  /// Whether the interval is defined (n >= 2): with one sample there is no spread to judge.
  bool defined() const noexcept { return n >= 2; }
};

/// Student t quantile: the q-quantile of t with `dof` degrees of freedom (dof >= 1).
double t_quantile(double q, size_t dof);

/// The interval of the mean of `x` at `level` (default 95 %).
interval t_interval(const std::vector<double>& x, double level = 0.95);

/// What an interval of a difference (policy - baseline) says about a claimed direction:
/// `direction` > 0 claims an increase, < 0 a decrease.
/// "holds" when the interval excludes zero on the claimed side, "does not hold" when it excludes
/// zero on the other, "inconclusive" when it contains zero (or has fewer than 2 samples).
std::string direction_verdict(const interval& difference, double direction);

/// The number of seeds below which a claim is flagged as under-sampled in reports.
constexpr size_t min_claim_seeds = 10;

} // namespace spry::policies::lab
