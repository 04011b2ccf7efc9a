#pragma once
// Walking the YAML app file: the one place that knows how a node becomes a value and how a
// mistake becomes "file:line:column: path: what was expected". Shared by core/config.cpp (the
// app file) and the parsers of sections in files of their own (core/config_mqtt.cpp), and by
// nothing outside core/config*.cpp: errors leave the config code as caf-style expected<> errors
// from parse_app_yaml, never as config_error.

#include "core/app_spec.hpp"
#include "core/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace spry::core::config_detail {

// Thrown inside the config code only, caught by parse_app_yaml: keeps the walker readable.
struct config_error {
  std::string message;
};

class walker {
public:
  explicit walker(std::string file) : file_(std::move(file)) {}

  source_location at(const YAML::Node& n) const {
    auto m = n.Mark();
    return source_location{file_, m.line + 1, m.column + 1};
  }

  [[noreturn]] void fail(const YAML::Node& n, const std::string& what) const {
    throw config_error{at(n).prefix() + what};
  }

  void expect_map(const YAML::Node& n, const std::string& path) const {
    if (!n.IsMap())
      fail(n, path + ": expected a mapping (key: value)");
  }

  void only_keys(const YAML::Node& n, const std::string& path,
                 const std::vector<const char*>& keys) const {
    for (const auto& kv : n) {
      const auto key = kv.first.as<std::string>();
      bool ok = false;
      for (const char* k : keys)
        ok = ok || key == k;
      if (!ok) {
        std::string list;
        for (const char* k : keys)
          list += (list.empty() ? "" : ", ") + std::string(k);
        fail(kv.first, path + ": unknown key '" + key + "' (expected one of: " + list + ")");
      }
    }
  }

  std::string str(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar())
      fail(n, path + ": expected a string");
    return n.Scalar();
  }

  uint64_t uint(const YAML::Node& n, const std::string& path, uint64_t max) const {
    if (!n.IsScalar())
      fail(n, path + ": expected a non-negative integer");
    const auto& s = n.Scalar();
    if (s.empty() || s.size() > 19 ||
        !std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }))
      fail(n, path + ": expected a non-negative integer, got '" + s + "'");
    const uint64_t v = std::stoull(s);
    if (v > max)
      fail(n, path + ": " + s + " is too large (at most " + std::to_string(max) + ")");
    return v;
  }

  uint64_t size(const YAML::Node& n, const std::string& path, uint64_t max) const {
    if (!n.IsScalar())
      fail(n, path + ": expected a size such as 64KiB, 1MiB or a number of bytes");
    auto v = parse_size(n.Scalar());
    if (!v)
      fail(n, path + ": " + v.err().message);
    if (*v > max)
      fail(n, path + ": " + n.Scalar() + " is too large (at most " + std::to_string(max) +
                " bytes)");
    return *v;
  }

  uint32_t duration(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar())
      fail(n, path + ": expected a duration such as 10s, 250ms or a number of milliseconds");
    auto v = parse_duration_ms(n.Scalar());
    if (!v)
      fail(n, path + ": " + v.err().message);
    if (*v == 0 || *v > std::numeric_limits<uint32_t>::max())
      fail(n, path + ": duration must be between 1ms and ~49 days");
    return static_cast<uint32_t>(*v);
  }

  double number(const YAML::Node& n, const std::string& path, double lo, double hi) const {
    if (!n.IsScalar())
      fail(n, path + ": expected a number");
    const auto& s = n.Scalar();
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !(v == v))
      fail(n, path + ": expected a number, got '" + s + "'");
    if (v < lo || v > hi)
      fail(n, path + ": " + s + " is outside [" + fmt(lo) + ", " + fmt(hi) + "]");
    return v;
  }

  std::vector<std::string> str_list(const YAML::Node& n, const std::string& path) const {
    if (!n.IsSequence())
      fail(n, path + ": expected a list, e.g. [a, b]");
    std::vector<std::string> out;
    for (size_t i = 0; i < n.size(); ++i)
      out.push_back(str(n[i], path + "[" + std::to_string(i) + "]"));
    return out;
  }

  const std::string& file() const { return file_; }

private:
  static std::string fmt(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
  }

  std::string file_;
};

/// The `mqtt:` section (core/config_mqtt.cpp).
mqtt_spec parse_mqtt(const walker& w, const YAML::Node& n);

} // namespace spry::core::config_detail
