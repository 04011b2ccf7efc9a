#pragma once
// The `spry bench` and `spry audit` subcommands. gateway/run.cpp registers them on the spry
// command line and calls run() after parsing; everything they do lives under bench/.
//
//   spry bench WORKLOAD.yaml [--setups local,shm-skmsg,tcp] [--duration 20s] [--out DIR] ...
//   spry audit WORKLOAD.yaml [--setups local,tcp] [--duration 3s] ...

#include <memory>
#include <optional>

namespace CLI {
class App;
}

namespace spry::bench {

class commands {
public:
  /// Adds both subcommands to `cli`.
  explicit commands(CLI::App& cli);
  ~commands();

  /// After parsing: the exit code if one of them was chosen (and has run), nullopt otherwise.
  std::optional<int> run();

  struct state; ///< the parsed options (defined in commands.cpp)

private:
  std::unique_ptr<state> s_;
};

} // namespace spry::bench
