#include "policies/placement/placement_engine.hpp"

#include "policies/placement/mu.hpp"
#include "policies/placement/spread.hpp"

namespace spry::policies::placement {

void register_all(placement_registry& registry) {
  using result = core::expected<std::unique_ptr<placement_engine>>;
  registry.add("spread", [](const parameters&) -> result {
    return make_policy<placement_engine, spread>();
  });
  registry.add("mu", [](const parameters& p) -> result {
    auto s = p.choice("score", "alignment", {"alignment", "best_fit", "worst_fit"});
    if (!s)
      return s.err();
    const node_score rule = *s == "best_fit"    ? node_score::best_fit
                            : *s == "worst_fit" ? node_score::worst_fit
                                                : node_score::alignment;
    return make_policy<placement_engine, mu>(rule);
  });
}

} // namespace spry::policies::placement
