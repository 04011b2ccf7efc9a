#pragma once
// `spry bench -c 1,8,32,128,512`: the same setups at each concurrency, and how their cost grows
// with it (SPRIGHT's Fig. 5 per setup). Each concurrency's full report goes to DIR/c<N>/ (as a
// single run writes it); beside them:
//
//   sweep.csv          one row per setup and concurrency: req/s, p50/p99 ms, CPU us/request
//   sweep-SETUP.gp     per setup, three panels against concurrency (log scale): req/s,
//   + .png|svg         p50 and p99 latency, CPU per request
//   sweep.md           the table, per setup
//
// The points of one setup come from separate runs of its process tree (one per concurrency).

#include "bench/driver/setup_run.hpp"
#include "bench/report/report.hpp"

#include <string>
#include <vector>

namespace spry::bench {

struct sweep_point {
  unsigned connections = 0;
  std::vector<setup_result> results; ///< one per setup, in the setups' order
};

/// Writes the sweep's files into `opts.dir`; returns the Markdown (also in sweep.md).
core::expected<std::string> write_sweep(const std::vector<sweep_point>& points,
                                        const report_options& opts);

} // namespace spry::bench
