#include "policies/parameters.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace spry::policies {

core::expected<double> parameters::number(const std::string& key, double fallback) const {
  asked_.insert(key);
  auto i = values_.find(key);
  if (i == values_.end())
    return fallback;
  const char* s = i->second.c_str();
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || errno == ERANGE || !std::isfinite(v))
    return core::make_error("parameter '" + key + "': expected a number, got '" + i->second + "'");
  return v;
}

core::expected<double> parameters::number_in(const std::string& key, double fallback, double lo,
                                             double hi) const {
  auto v = number(key, fallback);
  if (v && (*v < lo || *v > hi))
    return core::make_error("parameter '" + key + "': " + values_.at(key) + " is outside [" +
                            std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

core::expected<std::string> parameters::choice(const std::string& key, const std::string& fallback,
                                               const std::vector<std::string>& allowed) const {
  asked_.insert(key);
  auto i = values_.find(key);
  if (i == values_.end())
    return fallback;
  if (allowed.empty())
    return i->second;
  std::string list;
  for (const auto& a : allowed) {
    if (a == i->second)
      return i->second;
    list += (list.empty() ? "" : ", ") + a;
  }
  return core::make_error("parameter '" + key + "': '" + i->second + "' is not one of " + list);
}

std::string parameters::text(const std::string& key, const std::string& fallback) const {
  asked_.insert(key);
  auto i = values_.find(key);
  return i == values_.end() ? fallback : i->second;
}

std::vector<std::string> parameters::unused() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : values_)
    if (!asked_.count(k))
      out.push_back(k);
  return out;
}

} // namespace spry::policies
