#pragma once
// Reads values out of a YAML tree with errors that point at the place to fix:
// "file:line:col: KEY: what was expected, got what". The one reader of every YAML file spry
// reads: the app file (config.cpp) and the section parsers transports register
// (config_section.hpp), the policy lab's experiments and published workloads (policies/lab/),
// and the bench workloads (bench/driver/workload.cpp). So every key of every file is reported the
// same way, and an unknown key is refused the same way.
//
// Errors are thrown as config_error and caught by the reader's entry point (parse_app_yaml,
// read_experiment, load_workload_file, ...), which turns them into a caf::error: the walker only
// ever runs below such an entry point, never across a library's API.

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
  /// `n` is a list, else "PATH: expected a list".
  void expect_seq(const YAML::Node& n, const std::string& path) const;
  /// `n` is a mapping (expect_map) and every key of it is one of `keys`, else "PATH: unknown key
  /// 'K' (expected one of: ...)" at the key.
  void only_keys(const YAML::Node& n, const std::string& path,
                 const std::vector<std::string>& keys) const;

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
  /// Any finite number.
  double number(const YAML::Node& n, const std::string& path) const;
  /// A whole number in [lo, hi], written as a number may be (3, 3.0, 1e6): counts in the lab's
  /// and the bench's files.
  uint64_t count(const YAML::Node& n, const std::string& path, uint64_t lo, uint64_t hi) const;
  /// true/false; with `on_off`, on/off too (YAML 1.1 reads a bare on/off as a boolean, and
  /// yaml-cpp hands over the text). Errors say what is expected ("expected true or false").
  bool boolean(const YAML::Node& n, const std::string& path, bool on_off = false) const;
  /// A list of strings.
  std::vector<std::string> str_list(const YAML::Node& n, const std::string& path) const;

  // -- documents: syntax errors as "file:line:col: YAML syntax error: ..." ----------------------
  /// Reads and parses `file`; throws config_error "file: cannot open: why" if it cannot read it.
  static YAML::Node load_file(const std::string& file);
  /// Parses a document already in memory; `file` names it in errors.
  static YAML::Node load_text(const std::string& text, const std::string& file);

private:
  std::string file_;
};

} // namespace spry::core
