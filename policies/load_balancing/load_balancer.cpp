#include "policies/load_balancing/load_balancer.hpp"

#include "policies/load_balancing/least_connections.hpp"
#include "policies/load_balancing/mu.hpp"
#include "policies/load_balancing/power_of_two_choices.hpp"
#include "policies/load_balancing/round_robin.hpp"

namespace spry::policies::load_balancing {

core::status_or_error load_balancer_registry::add(const std::string& name,
                                                  load_balancer_factory factory) {
  if (!factories_.emplace(name, std::move(factory)).second)
    return core::make_error("load balancer '" + name + "' is registered twice");
  return {};
}

core::expected<std::unique_ptr<load_balancer>>
load_balancer_registry::create(const std::string& name) const {
  auto i = factories_.find(name);
  if (i == factories_.end()) {
    std::string known;
    for (const auto& n : names())
      known += (known.empty() ? "" : ", ") + n;
    return core::make_error("unknown load balancer '" + name + "' (available: " + known + ")");
  }
  return i->second();
}

std::vector<std::string> load_balancer_registry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, f] : factories_)
    out.push_back(name);
  return out;
}

void register_all(load_balancer_registry& registry) {
  registry.add("round_robin", [] { return std::make_unique<round_robin>(); });
  registry.add("least_connections", [] { return std::make_unique<least_connections>(); });
  registry.add("power_of_two_choices", [] { return std::make_unique<power_of_two_choices>(); });
  registry.add("mu", [] { return std::make_unique<mu>(); });
}

} // namespace spry::policies::load_balancing
