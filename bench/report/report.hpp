#pragma once
// What `spry bench` leaves behind, in one directory:
//
//   results.json       everything measured, per setup (load, latency per request kind,
//                      throughput over time, CPU per process and per component, idle CPU)
//   summary.csv        one row per setup and request kind
//   throughput.csv     requests/s over time per setup
//   latency_cdf.csv    the latency distribution per setup and request kind
//   cpu.csv            CPU per component per setup, busy and idle
//   *.gp + *.png|svg   gnuplot scripts and their plots: throughput over time, latency CDF per
//                      request kind, CPU per request by component
//   summary.md         the Markdown tables, with ratios against the baseline setup
//
// Components: the gateway, each function (its instances summed; each instance is in
// results.json), the queue-proxy sidecars, nginx, poller threads, and the load generator.

#include "bench/driver/setup_run.hpp"
#include "bench/driver/workload.hpp"
#include "core/error.hpp"

#include <string>
#include <vector>

namespace spry::bench {

struct report_options {
  std::string dir;
  std::string baseline = "tcp";
  std::string plot_format = "png"; ///< png or svg
  std::string title;               ///< plot and table title (the app's name)
  unsigned rounds = 1;             ///< alternating rounds merged per setup
};

/// Writes every file; returns the Markdown summary (also in summary.md). Plots are skipped with
/// a note in the summary when gnuplot is not installed.
core::expected<std::string> write_report(const workload& w, const std::vector<setup_result>& results,
                                         const report_options& opts);

/// Runs each gnuplot script in `dir` (where the scripts' data files are); "" when every plot was
/// drawn, else a note for the summary (gnuplot missing, plots failed).
std::string run_gnuplot(const std::string& dir, const std::vector<std::string>& scripts);

/// A string as a gnuplot title (quoted; '_' is not a subscript).
std::string gnuplot_quote(const std::string& s);

/// A name usable in a file name: letters, digits and '-' kept, anything else '_'.
std::string file_safe(const std::string& s);

/// Runs a program to completion with stdout and stderr into `log`; its exit code, 127 if it
/// could not be started.
int run_program(const std::vector<std::string>& argv, const std::string& log);

/// CPU seconds per component of one setup's processes (gateway, "fn NAME", queue-proxies,
/// nginx, pollers, other), in a stable order.
std::vector<std::pair<std::string, double>> cpu_by_component(const std::vector<process_sample>& v);

} // namespace spry::bench
