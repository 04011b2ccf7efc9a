#include "policies/autoscaling/autoscaler.hpp"

#include "policies/autoscaling/fixed.hpp"
#include "policies/autoscaling/kpa.hpp"
#include "policies/autoscaling/lass.hpp"
#include "policies/autoscaling/mu.hpp"
#include "policies/autoscaling/mu_mm1.hpp"

#include <limits>

namespace spry::policies::autoscaling {

namespace {

using result = core::expected<std::unique_ptr<autoscaler>>;
constexpr double inf = std::numeric_limits<double>::infinity();

// Runs each read in turn and stops at the first error.
template <class... Reads>
core::status_or_error all_of(Reads&&... reads) {
  core::status_or_error r;
  ((r ? (r = reads()) : r), ...);
  return r;
}

} // namespace

void register_all(autoscaler_registry& registry) {
  registry.add("fixed", [](const parameters& p) -> result {
    double n = 1;
    if (auto r = p.read("instances", n, 0, 1e6); !r)
      return r.err();
    return make_policy<autoscaler, fixed>(static_cast<uint32_t>(n));
  });

  registry.add("kpa", [](const parameters& p) -> result {
    kpa_options o;
    double to_zero = o.enable_scale_to_zero ? 1 : 0;
    auto r = all_of([&] { return p.read("target_concurrency", o.target_concurrency, 0, inf); },
                    [&] { return p.read("default_target_concurrency", o.default_target_concurrency, 0.01, inf); },
                    [&] { return p.read("target_burst_capacity", o.target_burst_capacity, -1, inf); },
                    [&] { return p.read("target_utilization", o.target_utilization, 0.01, 1); },
                    [&] { return p.read("stable_window_s", o.stable_window_s, 1, inf); },
                    [&] { return p.read("panic_window_percentage", o.panic_window_percentage, 1, 100); },
                    [&] { return p.read("panic_threshold", o.panic_threshold, 1, inf); },
                    [&] { return p.read("max_scale_up_rate", o.max_scale_up_rate, 1, inf); },
                    [&] { return p.read("max_scale_down_rate", o.max_scale_down_rate, 1, inf); },
                    [&] { return p.read("scale_to_zero_grace_s", o.scale_to_zero_grace_s, 0, inf); },
                    [&] { return p.read("scale_to_zero", to_zero, 0, 1); });
    if (!r)
      return r.err();
    o.enable_scale_to_zero = to_zero != 0;
    return make_policy<autoscaler, kpa>(o);
  });

  registry.add("lass", [](const parameters& p) -> result {
    lass_options o;
    auto r = all_of([&] { return p.read("rate_smoothing", o.rate_smoothing, 0.01, 1); },
                    [&] { return p.read("min_cpu_fraction", o.min_cpu_fraction, 0.01, 1); },
                    [&] { return p.read("default_slo_s", o.default_slo_s, 0, inf); },
                    [&] { return p.read("utilization_without_slo", o.utilization_without_slo, 0.01, 1); },
                    [&] { return p.read("scale_to_zero_grace_s", o.scale_to_zero_grace_s, 0, inf); });
    if (!r)
      return r.err();
    return make_policy<autoscaler, lass>(o);
  });

  registry.add("mu", [](const parameters& p) -> result {
    mu_options o;
    double seed = static_cast<double>(o.predictor.seed);
    auto r = all_of([&] { return p.read("lookahead_s", o.lookahead_s, 0, inf); },
                    [&] { return p.read("max_confidence_ratio", o.max_confidence_ratio, 1, inf); },
                    [&] { return p.read("scale_down_delay_s", o.scale_down_delay_s, 0, inf); },
                    [&] { return p.read("scale_to_zero_grace_s", o.scale_to_zero_grace_s, 0, inf); },
                    [&] { return p.read("reward_decay", o.predictor.reward_decay, 0.001, 1); },
                    [&] { return p.read("epsilon", o.predictor.epsilon, 0, 1); },
                    [&] { return p.read("seed", seed, 0, 9.0e15); });
    if (!r)
      return r.err();
    o.predictor.seed = static_cast<uint64_t>(seed);
    return make_policy<autoscaler, mu>(o);
  });

  // spry's earlier reading of Mu: an M/M/1 utilisation target instead of the confidence ratio.
  registry.add("mu-mm1", [](const parameters& p) -> result {
    mu_mm1_options o;
    double seed = static_cast<double>(o.predictor.seed);
    auto r = all_of([&] { return p.read("lookahead_s", o.lookahead_s, 0, inf); },
                    [&] { return p.read("min_utilization", o.min_utilization, 0.01, 1); },
                    [&] { return p.read("max_utilization", o.max_utilization, 0.01, 1); },
                    [&] { return p.read("scale_down_delay_s", o.scale_down_delay_s, 0, inf); },
                    [&] { return p.read("scale_to_zero_grace_s", o.scale_to_zero_grace_s, 0, inf); },
                    [&] { return p.read("epsilon", o.predictor.epsilon, 0, 1); },
                    [&] { return p.read("seed", seed, 0, 9.0e15); });
    if (!r)
      return r.err();
    if (o.min_utilization > o.max_utilization)
      return core::make_error("min_utilization must not exceed max_utilization");
    o.predictor.seed = static_cast<uint64_t>(seed);
    return make_policy<autoscaler, mu_mm1>(o);
  });
}

} // namespace spry::policies::autoscaling
