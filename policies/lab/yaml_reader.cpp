#include "policies/lab/yaml_reader.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace spry::policies::lab {

std::string yaml_reader::where(const YAML::Node& n) const {
  const auto m = n.Mark();
  if (m.is_null())
    return file_ + ": ";
  return file_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": ";
}

void yaml_reader::fail(const YAML::Node& n, const std::string& what) const {
  throw yaml_error{where(n) + what};
}

void yaml_reader::expect_map(const YAML::Node& n, const std::string& path) const {
  if (!n.IsMap())
    fail(n, path + ": expected a mapping (key: value)");
}

void yaml_reader::expect_seq(const YAML::Node& n, const std::string& path) const {
  if (!n.IsSequence())
    fail(n, path + ": expected a list");
}

void yaml_reader::only_keys(const YAML::Node& n, const std::string& path,
                            std::initializer_list<const char*> keys) const {
  only_keys(n, path, std::vector<std::string>(keys.begin(), keys.end()));
}

void yaml_reader::only_keys(const YAML::Node& n, const std::string& path,
                            const std::vector<std::string>& keys) const {
  expect_map(n, path);
  for (const auto& kv : n) {
    const auto key = kv.first.as<std::string>();
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

std::string yaml_reader::str(const YAML::Node& n, const std::string& path) const {
  if (!n.IsScalar())
    fail(n, path + ": expected a string");
  return n.Scalar();
}

double yaml_reader::number(const YAML::Node& n, const std::string& path) const {
  if (!n.IsScalar())
    fail(n, path + ": expected a number");
  const std::string& s = n.Scalar();
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
    fail(n, path + ": expected a number, got '" + s + "'");
  return v;
}

double yaml_reader::number(const YAML::Node& n, const std::string& path, double lo,
                           double hi) const {
  const double v = number(n, path);
  if (v < lo || v > hi) {
    std::ostringstream os;
    os << path << ": " << n.Scalar() << " is out of range [" << lo << ", " << hi << "]";
    fail(n, os.str());
  }
  return v;
}

uint64_t yaml_reader::count(const YAML::Node& n, const std::string& path, uint64_t lo,
                            uint64_t hi) const {
  const double v = number(n, path, static_cast<double>(lo), static_cast<double>(hi));
  if (v != std::floor(v))
    fail(n, path + ": expected a whole number, got '" + n.Scalar() + "'");
  return static_cast<uint64_t>(v);
}

bool yaml_reader::boolean(const YAML::Node& n, const std::string& path) const {
  const std::string s = str(n, path);
  if (s == "true" || s == "yes" || s == "on")
    return true;
  if (s == "false" || s == "no" || s == "off")
    return false;
  fail(n, path + ": expected true or false, got '" + s + "'");
}

YAML::Node yaml_reader::load_file(const std::string& file) {
  std::ifstream in(file);
  if (!in)
    throw yaml_error{file + ": cannot open: " + std::strerror(errno)};
  try {
    return YAML::Load(in);
  } catch (const YAML::Exception& e) {
    throw yaml_error{file + ":" + std::to_string(e.mark.line + 1) + ":" +
                     std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg};
  }
}

YAML::Node yaml_reader::load_text(const std::string& text, const std::string& file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw yaml_error{file + ":" + std::to_string(e.mark.line + 1) + ":" +
                     std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg};
  }
}

} // namespace spry::policies::lab
