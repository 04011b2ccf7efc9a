#include "policies/lab/confidence.hpp"

#include <boost/math/distributions/students_t.hpp>

#include <cmath>

namespace spry::policies::lab {

double t_quantile(double q, size_t dof) {
  const boost::math::students_t dist(static_cast<double>(dof < 1 ? 1 : dof));
  return boost::math::quantile(dist, q);
}

interval t_interval(const std::vector<double>& x, double level) {
  interval out;
  out.n = x.size();
  if (x.empty())
    return out;
  for (double v : x)
    out.mean += v;
  out.mean /= static_cast<double>(x.size());
  if (x.size() < 2)
    return out;
  double ss = 0;
  for (double v : x)
    ss += (v - out.mean) * (v - out.mean);
  out.sd = std::sqrt(ss / static_cast<double>(x.size() - 1));
  out.half_width = t_quantile(1 - (1 - level) / 2, x.size() - 1) * out.sd /
                   std::sqrt(static_cast<double>(x.size()));
  return out;
}

std::string direction_verdict(const interval& d, double direction) {
  if (!d.defined() || direction == 0)
    return "inconclusive";
  // A zero-width interval away from zero (every seed gave the same non-zero difference) is
  // decisive; one at zero (identical results) is not.
  const bool above = d.lo() > 0, below = d.hi() < 0;
  if (!above && !below)
    return "inconclusive";
  return (above == (direction > 0)) ? "holds" : "does not hold";
}

} // namespace spry::policies::lab
