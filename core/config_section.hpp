#pragma once
// A transport's section of the app file (`tcp:`, `dpdk:`), registered with the transport
// registry by the transport that owns it (transports/register.cpp calls each from one place).
// The app file reader knows no transport: a top-level key is either its own or a registered
// section, whose parser produces the transport's settings (transport_config.hpp); everything
// else is an unknown key.

#include "core/error.hpp"
#include "core/transport_config.hpp"

#include <functional>
#include <memory>
#include <string>

namespace YAML {
class Node;
}

namespace spry::core {

struct app_spec;
class yaml_walker;

struct config_section {
  /// The top-level key of the app file, e.g. "dpdk".
  std::string key;
  /// The transport the settings are for, e.g. "shm-dpdk" (an app may carry a section for
  /// another transport than its own: `--transport` switches between them).
  std::string transport;
  /// Parses the section's YAML node into the transport's settings. Runs inside parse_app_yaml
  /// on the caller's thread: reports mistakes with walker.fail() (file:line of the offending
  /// key, message "KEY.SUBKEY: ...") and throws nothing else.
  std::function<std::unique_ptr<transport_config>(const yaml_walker& walker, const YAML::Node& n)>
    parse;
  /// The settings the transport runs with when the app has no such section (what
  /// `spry check --dump` shows for the app's own transport).
  std::function<std::unique_ptr<transport_config>()> defaults;
  /// Optional: checks the settings against the whole app, for apps built in C++ too (which no
  /// parser saw) and for what depends on other keys (the app's transport). Called by
  /// runtime::check (so `spry check` and `spry run` alike); errors start with c.where.prefix().
  std::function<status_or_error(const transport_config& c, const app_spec& app)> check;
};

} // namespace spry::core
