#pragma once
// The lab's outputs for one experiment: results.csv and results.json (one record per run),
// latency CDFs, instance counts over time and per-function allocation as CSV, gnuplot scripts and
// their PNG/SVG plots, summary.csv and summary.md (per workload, each policy's mean over seeds
// with its 95 % interval), claims.csv and the claims in results.json and summary.md (published
// next to measured, with the interval of the paired difference and the verdict, claims.hpp).

#include "core/error.hpp"
#include "policies/lab/claims.hpp"
#include "policies/lab/experiment.hpp"

#include <string>
#include <vector>

namespace spry::policies::lab {

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
