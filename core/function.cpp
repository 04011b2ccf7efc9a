#include "core/function.hpp"

namespace spry::core {

status_or_error function_registry::add(const std::string& name, function_body body) {
  if (name.empty())
    return make_error("a function needs a non-empty name");
  if (!body)
    return make_error("function '" + name + "' has no body");
  if (!bodies_.emplace(name, std::move(body)).second)
    return make_error("function '" + name + "' is registered twice");
  return {};
}

const function_body* function_registry::find(const std::string& name) const {
  auto i = bodies_.find(name);
  return i == bodies_.end() ? nullptr : &i->second;
}

std::vector<std::string> function_registry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, body] : bodies_)
    out.push_back(name);
  return out;
}

} // namespace spry::core
