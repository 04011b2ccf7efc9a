#pragma once
// A transport's section of the app file (`tcp:`, `dpdk:`), registered with the transport
// registry by the transport that owns it (transports/register.cpp calls each from one place).
// The app file reader knows no transport: a top-level key is either its own or a registered
// section, whose parser produces the transport's settings (transport_config.hpp); everything
// else is an unknown key.

#include "core/error.hpp"
#include "core/transport_config.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace spry::core {

struct app_spec;
class yaml_walker;

/// A command-line option of `spry run` (and of a C++ app's spry::gateway::run) that sets a key of
/// the section, as if the app file said so (`--namespaces` is `tcp.namespaces: true`). The CLI
/// turns each into a CLI11 option in the order given, after its own; core knows no CLI library.
struct command_line_option {
  std::string name; ///< with its dashes: "--namespaces"
  std::string help; ///< one sentence for --help, as the CLI prints it
  /// Empty: a flag without a value (given: "true"). Otherwise the values it accepts, checked by
  /// the CLI before the section sees them (`--xdp-tc-redirect on|off`).
  std::vector<std::string> choices;
};

/// The options of one section that were given on the command line, by name ("--namespaces") to
/// value ("true" for a flag). Never empty when handed to config_section::apply_options.
using command_line_values = std::map<std::string, std::string>;

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

  // -- command line ------------------------------------------------------------------------------
  /// Options `spry run` offers for this section; empty: none.
  std::vector<command_line_option> options;
  /// Writes the values given into the app's settings of this section (starting from the app's
  /// own section, or the defaults), as overrides of the app file. Called by the CLI after parsing,
  /// on its only thread, once per process (the gateway and every instance process it starts parse
  /// the same command line), only when some option of this section was given and only when the
  /// app's transport is `transport` (the CLI refuses the options for any other, naming them).
  /// Errors say which option is wrong; what does not go together with the rest of the app is left
  /// to `check`, which runs afterwards like for the file.
  std::function<status_or_error(app_spec& app, const command_line_values& given)> apply_options;
};

} // namespace spry::core
