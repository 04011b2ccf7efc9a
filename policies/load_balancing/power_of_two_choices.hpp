#pragma once
// Power of two choices (Mitzenmacher): sample two distinct instances at random and take the one
// with the shorter queue. Nearly as good as least-connections on a single balancer, and much
// better when many balancers (every instance routes its own next hop) act on stale queue
// lengths, because they do not all herd onto the same "shortest" instance.

#include "policies/load_balancing/load_balancer.hpp"
#include "policies/random.hpp"

namespace spry::policies::load_balancing {

class power_of_two_choices final : public load_balancer {
public:
  /// Seedable so that the policy lab and tests are reproducible.
  explicit power_of_two_choices(uint64_t seed = 0x5eed) noexcept : rng_(seed) {}

  std::string_view name() const noexcept override { return "power_of_two_choices"; }
  void reseed(uint64_t seed) noexcept override { rng_ = random_stream(seed); }

  size_t pick(const instance_load* c, size_t n) noexcept override {
    if (n <= 1)
      return 0;
    const size_t a = static_cast<size_t>(rng_.below(n));
    // Second sample from the other n-1 instances, so the two choices are always distinct.
    size_t b = static_cast<size_t>(rng_.below(n - 1));
    if (b >= a)
      ++b;
    if (c[b].queue_length < c[a].queue_length)
      return b;
    return a;
  }

private:
  random_stream rng_;
};

} // namespace spry::policies::load_balancing
