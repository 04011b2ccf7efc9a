#pragma once
// The environment variable through which the node agent tells a re-run of this program which
// role to take (SPRY_INSTANCE, SPRY_SIDECAR): "key=value;key=value". One parser for all roles.

#include <map>
#include <string>
#include <vector>

namespace spry::core {

struct role_env {
  bool present = false; ///< the variable is set: this process runs in that role
  std::string error;    ///< non-empty if it is set but malformed
  std::map<std::string, std::string> values;
};

role_env read_role_env(const char* variable);

/// Numeric value of `key` (std::stol rules); throws std::invalid_argument if missing or bad.
long role_number(const std::map<std::string, std::string>& role, const std::string& key);

/// A list of strings (file paths) as one role value: items joined by ',', with '%', ';' and ','
/// inside an item written %25, %3B, %2C so that any path survives the "key=value;..." format.
std::string role_list(const std::vector<std::string>& items);
/// The inverse of role_list ("" is the empty list).
std::vector<std::string> parse_role_list(const std::string& value);

} // namespace spry::core
