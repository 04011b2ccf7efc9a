#pragma once
// Reads values out of the app file's YAML tree with errors that point at the place to fix:
// "file:line:col: KEY: what was expected, got what". Shared by the app file reader (config.cpp)
// and the section parsers transports register (config_section.hpp), so every key of the file is
// reported the same way.
//
// Errors are thrown as config_error and caught by parse_app_yaml, which turns them into a
// caf::error: the walker only ever runs below parse_app_yaml, never across a library's API.

#include "core/source_location.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

namespace spry::core {

/// A mistake in the app file, message complete with its file:line prefix.
struct config_error {
  std::string message;
};

class yaml_walker {
public:
  /// `file`: the app file's path, as errors name it.
  explicit yaml_walker(std::string file) : file_(std::move(file)) {}

  const std::string& file() const noexcept { return file_; }
  /// Where `n` is in the file (1-based line and column).
  source_location at(const YAML::Node& n) const;

  /// Throws config_error "<where n is>: what".
  [[noreturn]] void fail(const YAML::Node& n, const std::string& what) const;
  /// `n` is a mapping, else "PATH: expected a mapping (key: value)".
  void expect_map(const YAML::Node& n, const std::string& path) const;
  /// Every key of the mapping `n` is one of `keys`, else "PATH: unknown key 'K' (expected one
  /// of: ...)" at the key.
  void only_keys(const YAML::Node& n, const std::string& path,
                 const std::vector<const char*>& keys) const;

  // -- scalars: each error names PATH and what was given ---------------------------------------
  std::string str(const YAML::Node& n, const std::string& path) const;
  /// A decimal integer in [0, max].
  uint64_t uint(const YAML::Node& n, const std::string& path, uint64_t max) const;
  /// A size such as 64KiB, 1MiB or bytes, at most `max` bytes (parse_size).
  uint64_t size(const YAML::Node& n, const std::string& path, uint64_t max) const;
  /// A duration such as 10s or 250ms (parse_duration_ms), 1 ms to ~49 days.
  uint32_t duration(const YAML::Node& n, const std::string& path) const;
  /// A number in [lo, hi].
  double number(const YAML::Node& n, const std::string& path, double lo, double hi) const;
  /// true/false; with `on_off`, on/off too (YAML 1.1 reads a bare on/off as a boolean, and
  /// yaml-cpp hands over the text). Errors say what is expected ("expected true or false").
  bool boolean(const YAML::Node& n, const std::string& path, bool on_off = false) const;
  /// A list of strings.
  std::vector<std::string> str_list(const YAML::Node& n, const std::string& path) const;

private:
  std::string file_;
};

} // namespace spry::core
