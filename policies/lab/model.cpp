#include "policies/lab/model.hpp"

#include <cmath>

namespace spry::policies::lab {

double service_distribution::sample(random_stream& rng) const noexcept {
  switch (shape) {
    case kind::deterministic:
      return mean_s;
    case kind::exponential:
      return rng.exponential(mean_s);
    case kind::lognormal: {
      // Parameters chosen so that the mean is mean_s and the standard deviation cv * mean_s.
      const double s2 = std::log1p(cv * cv);
      return std::exp(std::log(mean_s) - s2 / 2 + std::sqrt(s2) * rng.normal());
    }
  }
  return mean_s;
}

} // namespace spry::policies::lab
