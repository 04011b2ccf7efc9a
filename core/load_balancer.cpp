#include "core/load_balancer.hpp"

namespace spry::core {

status_or_error load_balancer_registry::add(const std::string& name,
                                                  load_balancer_factory factory) {
  if (!factories_.emplace(name, std::move(factory)).second)
    return make_error("load balancer '" + name + "' is registered twice");
  return {};
}

expected<std::unique_ptr<load_balancer>>
load_balancer_registry::create(const std::string& name) const {
  auto i = factories_.find(name);
  if (i == factories_.end()) {
    std::string known;
    for (const auto& n : names())
      known += (known.empty() ? "" : ", ") + n;
    return make_error("unknown load balancer '" + name + "' (available: " + known + ")");
  }
  return i->second();
}

std::vector<std::string> load_balancer_registry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, f] : factories_)
    out.push_back(name);
  return out;
}

} // namespace spry::core
