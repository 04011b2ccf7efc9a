#include "core/yaml_walker.hpp"

#include "core/app_rules.hpp"
#include "core/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>

namespace spry::core {

source_location yaml_walker::at(const YAML::Node& n) const {
  auto m = n.Mark();
  return source_location{file_, m.line + 1, m.column + 1};
}

void yaml_walker::fail(const YAML::Node& n, const std::string& what) const {
  throw config_error{at(n).prefix() + what};
}

void yaml_walker::expect_map(const YAML::Node& n, const std::string& path) const {
  if (!n.IsMap())
    fail(n, path + ": expected a mapping (key: value)");
}

void yaml_walker::expect_seq(const YAML::Node& n, const std::string& path) const {
  if (!n.IsSequence())
    fail(n, path + ": expected a list");
}

void yaml_walker::only_keys(const YAML::Node& n, const std::string& path,
                            const std::vector<std::string>& keys) const {
  expect_map(n, path);
  for (const auto& kv : n) {
    if (!kv.first.IsScalar())
      fail(kv.first, path + ": expected a plain key");
    const auto& key = kv.first.Scalar();
    bool ok = false;
    for (const auto& k : keys)
      ok = ok || key == k;
    if (!ok) {
      std::string list;
      for (const auto& k : keys)
        list += (list.empty() ? "" : ", ") + k;
      fail(kv.first, path + ": unknown key '" + key + "' (expected one of: " + list + ")");
    }
  }
}

std::string yaml_walker::str(const YAML::Node& n, const std::string& path) const {
  if (!n.IsScalar())
    fail(n, path + ": expected a string");
  return n.Scalar();
}

uint64_t yaml_walker::uint(const YAML::Node& n, const std::string& path, uint64_t max) const {
  if (!n.IsScalar())
    fail(n, path + ": expected a non-negative integer");
  const auto& s = n.Scalar();
  if (s.empty() || s.size() > 19 ||
      !std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }))
    fail(n, path + ": expected a non-negative integer, got '" + s + "'");
  const uint64_t v = std::stoull(s);
  if (auto problem = rules::at_most(v, max, path); !problem.empty())
    fail(n, problem);
  return v;
}

uint64_t yaml_walker::size(const YAML::Node& n, const std::string& path, uint64_t max) const {
  if (!n.IsScalar())
    fail(n, path + ": expected a size such as 64KiB, 1MiB or a number of bytes");
  auto v = parse_size(n.Scalar());
  if (!v)
    fail(n, path + ": " + v.err().message);
  if (*v > max)
    fail(n, path + ": " + n.Scalar() + " is too large (at most " + std::to_string(max) + " bytes)");
  return *v;
}

uint32_t yaml_walker::duration(const YAML::Node& n, const std::string& path) const {
  if (!n.IsScalar())
    fail(n, path + ": expected a duration such as 10s, 250ms or a number of milliseconds");
  auto v = parse_duration_ms(n.Scalar());
  if (!v)
    fail(n, path + ": " + v.err().message);
  if (*v > std::numeric_limits<uint32_t>::max())
    fail(n, path + ": duration must be between 1ms and ~49 days");
  if (auto problem = rules::duration(static_cast<uint32_t>(*v), path); !problem.empty())
    fail(n, problem);
  return static_cast<uint32_t>(*v);
}

double yaml_walker::number(const YAML::Node& n, const std::string& path) const {
  if (!n.IsScalar())
    fail(n, path + ": expected a number");
  const auto& s = n.Scalar();
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v))
    fail(n, path + ": expected a number, got '" + s + "'");
  return v;
}

double yaml_walker::number(const YAML::Node& n, const std::string& path, double lo,
                           double hi) const {
  const double v = number(n, path);
  const auto& s = n.Scalar();
  if (v < lo || v > hi)
    fail(n, rules::outside(s, lo, hi, path));
  return v;
}

uint64_t yaml_walker::count(const YAML::Node& n, const std::string& path, uint64_t lo,
                            uint64_t hi) const {
  const double v = number(n, path, static_cast<double>(lo), static_cast<double>(hi));
  if (v != std::floor(v))
    fail(n, path + ": expected a whole number, got '" + n.Scalar() + "'");
  return static_cast<uint64_t>(v);
}

bool yaml_walker::boolean(const YAML::Node& n, const std::string& path, bool on_off) const {
  const auto v = str(n, path);
  if (v == "true" || (on_off && v == "on"))
    return true;
  if (v == "false" || (on_off && v == "off"))
    return false;
  fail(n, path + (on_off ? ": expected on or off, got '" : ": expected true or false, got '") + v +
            "'");
}

std::vector<std::string> yaml_walker::str_list(const YAML::Node& n, const std::string& path) const {
  if (!n.IsSequence())
    fail(n, path + ": expected a list, e.g. [a, b]");
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); ++i)
    out.push_back(str(n[i], path + "[" + std::to_string(i) + "]"));
  return out;
}

namespace {

config_error syntax_error(const std::string& file, const YAML::Exception& e) {
  return config_error{file + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg};
}

} // namespace

YAML::Node yaml_walker::load_file(const std::string& file) {
  std::ifstream in(file);
  if (!in)
    throw config_error{file + ": cannot open: " + std::strerror(errno)};
  try {
    return YAML::Load(in);
  } catch (const YAML::Exception& e) {
    throw syntax_error(file, e);
  }
}

YAML::Node yaml_walker::load_text(const std::string& text, const std::string& file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw syntax_error(file, e);
  }
}

} // namespace spry::core
