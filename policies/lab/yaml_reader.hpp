#pragma once
// Reading a YAML document with every error pointing at file:line:column, as spry's app config
// does. Used by the experiment parser and the published-workload reader. Errors are thrown as
// yaml_error inside the lab's parsers only and turned into core::error at their boundary.

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace spry::policies::lab {

struct yaml_error {
  std::string message;
};

class yaml_reader {
public:
  explicit yaml_reader(std::string file) : file_(std::move(file)) {}

  const std::string& file() const noexcept { return file_; }
  std::string where(const YAML::Node& n) const;
  [[noreturn]] void fail(const YAML::Node& n, const std::string& what) const;

  void expect_map(const YAML::Node& n, const std::string& path) const;
  void expect_seq(const YAML::Node& n, const std::string& path) const;
  /// Rejects keys not in `keys`, naming the allowed ones.
  void only_keys(const YAML::Node& n, const std::string& path,
                 std::initializer_list<const char*> keys) const;
  void only_keys(const YAML::Node& n, const std::string& path,
                 const std::vector<std::string>& keys) const;

  std::string str(const YAML::Node& n, const std::string& path) const;
  double number(const YAML::Node& n, const std::string& path) const;
  /// A number within [lo, hi].
  double number(const YAML::Node& n, const std::string& path, double lo, double hi) const;
  uint64_t count(const YAML::Node& n, const std::string& path, uint64_t lo, uint64_t hi) const;
  bool boolean(const YAML::Node& n, const std::string& path) const;

  /// Loads a file (or throws yaml_error with yaml-cpp's position for syntax errors).
  static YAML::Node load_file(const std::string& file);
  /// Parses a document already in memory; `file` names it in errors.
  static YAML::Node load_text(const std::string& text, const std::string& file);

private:
  std::string file_;
};

} // namespace spry::policies::lab
