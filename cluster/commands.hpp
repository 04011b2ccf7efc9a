#pragma once
// `spry controller` and `spry node`: their options and what they run (the CLI only parses).

#include "gateway/run.hpp"

#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace spry::cluster {

/// The version string nodes and controller compare at join.
const char* version();

class commands {
public:
  /// Adds the `controller` and `node` subcommands to `cli`.
  explicit commands(CLI::App& cli);
  /// The exit code if one of them was given, nullopt otherwise. After CLI11 parsed.
  std::optional<int> run(int argc, char** argv);

private:
  int run_controller();
  int run_node(int argc, char** argv);

  CLI::App* controller_cmd_ = nullptr;
  CLI::App* node_cmd_ = nullptr;
  std::string app_file_;
  std::string listen_;   // controller: HOST:PORT of the cluster channel
  std::string join_;     // node: the controller's HOST:PORT
  std::string name_;
  std::string cpus_;
  std::string memory_ = "";
  double speed_ = 1;
  double cpu_capacity_ = 0;
  std::string data_;
  std::string ca_, cert_, key_;
  std::string as_version_; // tests: pretend to be another spry version
  bool spread_chains_ = false;
  unsigned min_nodes_ = 1;
  gateway::overrides o_;
};

/// "0-3,6" -> {0,1,2,3,6}; an error names what is wrong.
core::expected<std::vector<unsigned>> parse_cpu_list(const std::string& s);
/// "HOST:PORT" -> (host, port); port 0 allowed when `allow_zero`.
core::expected<std::pair<std::string, uint16_t>> parse_address(const std::string& s, const char* what,
                                                               bool allow_zero);

} // namespace spry::cluster
