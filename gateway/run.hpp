#pragma once
// Entry points for programs: user programs that compose an app in C++ and call
// run(app, argc, argv) from their main, and the pieces the `spry` CLI (cli/) shares with it.

#include "core/app.hpp"
#include "core/config_section.hpp"
#include "core/error.hpp"
#include "core/function.hpp"

#include <signal.h>

#include <map>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace spry::gateway {

/// Runs a C++-composed app until SIGINT/SIGTERM, with the same command-line options as
/// `spry run` (--listen, --transport, --io-threads, --workers, --log-level; --help).
int run(core::app& app, int argc, char** argv);

// -- pieces of the command line, shared with the `spry` CLI (cli/) -----------------------------

/// Command-line settings that override the app file's.
struct overrides {
  std::string listen;
  std::string transport;
  unsigned io_threads = 0;
  unsigned workers = 0;
  std::string log_level = "info";
  unsigned drain_ms = 5000;
  std::string mqtt_broker;
  /// The transports' own options that were given (`--namespaces`), by app file section key, then
  /// by option name (core::config_section::options).
  std::map<std::string, core::command_line_values> transport_options;
};
/// Adds --listen, --transport, --io-threads, --workers, --log-level, --drain, --mqtt-broker to
/// `cmd`, then the options every registered transport section declares (tcp: --namespaces,
/// --xdp-tc-redirect).
void add_overrides(CLI::App& cmd, overrides& o);
core::status_or_error apply_overrides(core::app_spec& app, const overrides& o);
/// Reads an app file and checks everything checkable without running it (names, routes, sizes,
/// policies): the error says what and where. Every command that takes an app file starts here, so
/// a broken file never brings up half an app.
core::expected<core::app_spec> load_checked_app(const std::string& file);
/// The exit codes (gateway/exit_code.hpp) as one paragraph for `--help`.
std::string exit_codes_help();
/// Logs to stderr at `level`.
void setup_logging(const std::string& level);
/// Blocks SIGINT/SIGTERM in this thread (call before any thread starts); sigwait on the result.
sigset_t block_stop_signals();
/// This process was started as an instance (or a transport's own helper) by a supervisor: runs
/// as that and returns its exit code; nullopt when it is a top-level process.
std::optional<int> run_process_role(core::app_spec& app, core::function_registry& functions);
/// Serves `app` on this machine until SIGINT/SIGTERM (`spry run`).
int serve(core::app_spec app, core::function_registry functions, const overrides& o, int argc,
          char** argv);

} // namespace spry::gateway
