#pragma once
// How each setup's cost grows with the work, from `spry bench` runs at several points:
//
//   -c 1,8,32,128,512        the same setups at each concurrency (SPRIGHT's Fig. 5 per setup);
//                            each point's full report in DIR/c<N>/
//   --chain-length 1,2,4,8   the chain's first function repeated N times; each point's report
//                            in DIR/chain<N>/, and per setup the slope per added function
//                            (least squares) of p50 latency and CPU per request: a hop's cost
//
//   sweep.csv          one row per setup and point: req/s, p50/p99 ms, CPU us/request
//   sweep-SETUP.gp     per setup, three panels against the swept value: req/s, p50 and p99
//   + .png|svg         latency, CPU per request
//   sweep.md           the table, per setup (and the per-hop slopes)
//
// The points of one setup come from separate runs of its process tree (one per point).

#include "bench/driver/setup_run.hpp"
#include "bench/report/report.hpp"

#include <string>
#include <vector>

namespace spry::bench {

enum class sweep_axis { connections, chain_length };

struct sweep_point {
  unsigned value = 0; ///< connections or functions in the chain
  std::vector<setup_result> results; ///< one per setup, in the setups' order
};

/// Writes the sweep's files into `opts.dir`; returns the Markdown (also in sweep.md).
core::expected<std::string> write_sweep(const std::vector<sweep_point>& points, sweep_axis axis,
                                        const report_options& opts);

/// Least-squares slope of y over x (0 with fewer than two distinct x).
double slope(const std::vector<double>& x, const std::vector<double>& y);

} // namespace spry::bench
