#pragma once
// One setup of a benchmark, measured: its app as a real `spry run` process tree, the workload's
// load after a warm-up, CPU of every process over the measured window (from /proc), then CPU
// over a quiet period (idle cost), then the tree is stopped by its PID.

#include "bench/driver/setups.hpp"
#include "bench/driver/workload.hpp"
#include "bench/load/child_process.hpp"
#include "bench/load/http_load.hpp"
#include "bench/load/proc_stats.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace spry::bench {

struct setup_result {
  setup config;
  bool ran = false;
  std::string skipped; ///< why it did not run (unavailable, failed to start)
  load_result load;
  std::vector<process_sample> busy; ///< per process, over the measured window
  std::vector<process_sample> idle; ///< per process, over the quiet period
  double busy_seconds = 0;          ///< the measured window (= load.seconds)
  double idle_seconds = 0;

  double tree_cpu_seconds() const;
  double idle_cpu_seconds() const;
  /// CPU of the tree per successful request, in seconds.
  double cpu_per_request() const;
};

struct run_settings {
  std::string spry_binary;   ///< the program to start as `spry run`
  std::string work_dir;      ///< app files and stderr logs go here
  std::string log_level = "warn";
  std::chrono::milliseconds start_timeout{60000};
  /// Called on the load thread about once a second with the setup's name.
  std::function<void(const std::string&, const load_progress&)> on_progress;
  /// Extra environment for the tree (besides the workload's), e.g. SPRY_COUNTERS_FILE.
  std::map<std::string, std::string> env;
};

/// Adds a later round of the same setup to `into` (alternating rounds: `spry bench --rounds`):
/// counts and CPU add up, histograms merge, the throughput series continue one after the other.
void merge_round(setup_result& into, const setup_result& round);

/// A setup's process tree, started and serving.
struct started_tree {
  std::unique_ptr<child_process> process; ///< `spry run`; stopping it stops the tree
  uint16_t port = 0;
  std::string log; ///< its stderr
};

/// Starts the tree of setup `s` for workload `w` (the workload's and the settings' environment
/// set for it) and waits until it serves; the error says why not (its stderr's last lines).
core::expected<started_tree> start_tree(const workload& w, const setup& s, const run_settings& settings);

/// Stops a tree by its PID: SIGTERM, then SIGKILL if it does not exit in time.
void stop_tree(started_tree& t);

/// Runs `s` with workload `w`. Never throws; a setup that cannot start comes back with `skipped`.
setup_result run_setup(const workload& w, const setup& s, const run_settings& settings);

} // namespace spry::bench
