#pragma once
// Tuning knobs of a policy, as given by the user (the `params:` of a policy in an app or an
// experiment YAML): names to text values, read by the policy's factory with a typed getter.
//
// The factory asks for every key it understands; whatever nobody asked for is a typo in the
// user's file, so the registry rejects it (listing the keys that exist) instead of silently
// running with defaults.

#include "core/error.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace spry::policies {

class parameters {
public:
  parameters() = default;
  parameters(std::initializer_list<std::pair<const std::string, std::string>> values)
    : values_(values) {}

  void set(const std::string& key, std::string value) { values_[key] = std::move(value); }
  bool empty() const noexcept { return values_.empty(); }

  /// The number under `key`, or `fallback` if absent; an error if present but not a number.
  core::expected<double> number(const std::string& key, double fallback) const;
  /// As number(), and also an error if outside [lo, hi].
  core::expected<double> number_in(const std::string& key, double fallback, double lo,
                                   double hi) const;
  /// The text under `key`, or `fallback`; an error if it is not one of `allowed` (when given).
  core::expected<std::string> choice(const std::string& key, const std::string& fallback,
                                     const std::vector<std::string>& allowed) const;

  /// Reads `key` into `field` if present (its current value is the default); an error if the
  /// value is not a number within [lo, hi]. For factories reading many knobs in a row.
  core::status_or_error read(const std::string& key, double& field, double lo, double hi) const {
    auto v = number_in(key, field, lo, hi);
    if (!v)
      return v.err();
    field = *v;
    return {};
  }

  /// The text under `key`, or `fallback`.
  std::string text(const std::string& key, const std::string& fallback) const;

  /// Keys present but never asked for, and the keys that were asked for.
  std::vector<std::string> unused() const;
  std::vector<std::string> known() const { return {asked_.begin(), asked_.end()}; }

private:
  std::map<std::string, std::string> values_;
  mutable std::set<std::string> asked_;
};

} // namespace spry::policies
