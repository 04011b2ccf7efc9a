#pragma once
// The lab's outputs for one experiment: results.csv and results.json (one record per run),
// latency CDFs, instance counts over time and per-function allocation as CSV, gnuplot scripts and
// their PNG/SVG plots, and summary.md (per workload, the mean over seeds of each policy, and the
// published claims next to what was measured).

#include "core/error.hpp"
#include "policies/lab/experiment.hpp"

#include <string>
#include <vector>

namespace spry::policies::lab {

struct run_record {
  std::string policy;
  std::string workload;
  uint64_t seed = 0;
  run_result result;
  double wall_s = 0;
};

/// A claim evaluated on one workload: means over seeds.
struct claim_outcome {
  const claim_spec* claim = nullptr;
  std::string workload;
  double policy_value = 0;
  double baseline_value = 0;
  double measured_change = 0; ///< (policy - baseline) / baseline
  std::string verdict;        ///< "holds", "weaker than published", "does not hold", "n/a"
};

std::vector<claim_outcome> evaluate_claims(const experiment& e, const std::vector<run_record>& runs);

struct report_files {
  std::vector<std::string> written;
  bool plotted = false;
  std::string plot_note; ///< why there are no plots, if there are none
};

/// Writes everything into `dir` (created if needed). Plots need gnuplot on the PATH; without it
/// the scripts and data are still written and plot_note says so.
core::expected<report_files> write_report(const experiment& e, const std::vector<run_record>& runs,
                                          const std::string& dir, bool plots);

} // namespace spry::policies::lab
