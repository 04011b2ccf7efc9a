#pragma once
// Policies of one kind by config name, each made by a factory from the user's parameters.
// Registration is explicit (each kind's register_all()), never a static initializer: those are
// silently dropped when a static library's object file is not otherwise referenced.

#include "core/error.hpp"
#include "policies/parameters.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace spry::policies {

/// A factory's successful result: a new `Concrete` as a `Policy`.
template <class Policy, class Concrete, class... Args>
core::expected<std::unique_ptr<Policy>> make_policy(Args&&... args) {
  return std::unique_ptr<Policy>(std::make_unique<Concrete>(std::forward<Args>(args)...));
}

template <class Policy>
class policy_registry {
public:
  using factory = std::function<core::expected<std::unique_ptr<Policy>>(const parameters&)>;

  /// `kind` names the policy kind in error messages ("autoscaler", "placement").
  explicit policy_registry(std::string kind) : kind_(std::move(kind)) {}

  core::status_or_error add(const std::string& name, factory f) {
    if (!factories_.emplace(name, std::move(f)).second)
      return core::make_error(kind_ + " '" + name + "' is registered twice");
    return {};
  }

  /// A new policy; an error names what is wrong: an unknown name (with the known ones), a bad
  /// parameter value, or a parameter the policy does not have (with the ones it has).
  core::expected<std::unique_ptr<Policy>> create(const std::string& name,
                                                 const parameters& params = {}) const {
    auto i = factories_.find(name);
    if (i == factories_.end())
      return core::make_error("unknown " + kind_ + " '" + name + "' (available: " +
                              join(names()) + ")");
    auto p = i->second(params);
    if (!p)
      return core::make_error(kind_ + " '" + name + "': " + p.err().message);
    if (auto extra = params.unused(); !extra.empty())
      return core::make_error(kind_ + " '" + name + "' has no parameter '" + extra.front() +
                              "' (it has: " + (params.known().empty() ? std::string("none")
                                                                      : join(params.known())) +
                              ")");
    return p;
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& kv : factories_)
      out.push_back(kv.first);
    return out;
  }
  bool contains(const std::string& name) const { return factories_.count(name) != 0; }

private:
  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v)
      s += (s.empty() ? "" : ", ") + x;
    return s;
  }

  std::string kind_;
  std::map<std::string, factory> factories_;
};

} // namespace spry::policies
