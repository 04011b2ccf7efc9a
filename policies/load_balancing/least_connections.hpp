#pragma once
// Least connections: the instance with the shortest queue; ties go round robin so equal
// instances share load instead of the first one taking everything.

#include "policies/load_balancing/load_balancer.hpp"

namespace spry::policies::load_balancing {

class least_connections final : public load_balancer {
public:
  std::string_view name() const noexcept override { return "least_connections"; }
  size_t pick(const instance_load* c, size_t n) noexcept override {
    const size_t start = next_++ % n;
    size_t best = start;
    for (size_t k = 1; k < n; ++k) {
      const size_t i = (start + k) % n;
      if (c[i].queue_length < c[best].queue_length)
        best = i;
    }
    return best;
  }

private:
  size_t next_ = 0;
};

} // namespace spry::policies::load_balancing
