#pragma once
// Mu's load balancer (SoCC 2021): send the request to the instance with the lowest estimated
// response time R_i = (Q_i + 1) / Cap_i, where Q_i is the instance's queue length and Cap_i its
// service capacity in requests/s. Both come from metrics the instances piggyback on each
// completed request, so a slow instance (old CPU, throttled, noisy neighbour) gets proportionally
// fewer requests instead of an equal share as under least-connections.
//
// Capacity estimate, best first: concurrency / mean execution time (what the instance could do
// if busy); else its measured departure rate; else unknown. Cold start: an instance with no
// measurements yet is assumed to be as fast as the average of those measured (neutral: it is
// neither starved, which would keep it unmeasured forever, nor flooded); if nobody is measured
// Cap_i = 1 for all and Mu degenerates to least-connections. Ties rotate like least-connections.

#include "policies/load_balancing/load_balancer.hpp"

namespace spry::policies::load_balancing {

class mu final : public load_balancer {
public:
  std::string_view name() const noexcept override { return "mu"; }

  /// Requests/s instance `c` can serve, or 0 if it has not reported enough to tell.
  static double capacity_of(const instance_load& c) noexcept {
    if (c.service_time_s > 0)
      return (c.concurrency ? c.concurrency : 1) / c.service_time_s;
    if (c.departure_rate > 0)
      return c.departure_rate;
    return 0;
  }

  size_t pick(const instance_load* c, size_t n) noexcept override {
    double known_sum = 0;
    size_t known = 0;
    for (size_t i = 0; i < n; ++i) {
      const double cap = capacity_of(c[i]);
      if (cap > 0) {
        known_sum += cap;
        ++known;
      }
    }
    const double fallback = known ? known_sum / static_cast<double>(known) : 1.0;
    const size_t start = next_++ % n;
    size_t best = start;
    double best_r = 0;
    for (size_t k = 0; k < n; ++k) {
      const size_t i = (start + k) % n;
      double cap = capacity_of(c[i]);
      if (cap <= 0)
        cap = fallback;
      const double r = (static_cast<double>(c[i].queue_length) + 1.0) / cap;
      if (k == 0 || r < best_r) {
        best = i;
        best_r = r;
      }
    }
    return best;
  }

private:
  size_t next_ = 0;
};

} // namespace spry::policies::load_balancing
