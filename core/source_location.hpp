#pragma once
// Where an element of an app was declared: file:line:column for the YAML file, nothing for an
// app built in C++. Every config error starts with it, so a mistake is reported at the place the
// user has to fix.

#include <string>

namespace spry::core {

struct source_location {
  std::string file; ///< YAML file, or empty for apps built in C++
  int line = 0;     ///< 1-based; 0 when unknown
  int column = 0;
  /// "file:line:col: " or "" when unknown; prefix of every config error.
  std::string prefix() const;
};

} // namespace spry::core
