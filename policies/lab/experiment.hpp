#pragma once
// An experiment: a matrix of policy sets x workloads x seeds on one cluster, as read from a YAML
// file (format in policies/lab/README.md). Every error a user can make in the file is reported
// with file:line:column; policy names and parameters are checked against the registries when the
// file is read, not halfway through a long run.

#include "core/error.hpp"
#include "policies/lab/azure_trace.hpp"
#include "policies/lab/model.hpp"
#include "policies/lab/published_workload.hpp"
#include "policies/lab/simulator.hpp"

#include <memory>
#include <string>
#include <vector>

namespace spry::policies::lab {

/// A function's resource shape; workloads cycle through a list of them.
struct function_shape {
  double cpu = 1;
  double memory_mb = 256;
  double weight = 1;
};

/// A workload as written: turned into a workload_model per seed by build_workload().
struct workload_spec {
  enum class kind_t {
    poisson, on_off, mmpp, diurnal, periodic_burst, published, azure, azure_synthetic, mix
  };
  std::string name;
  kind_t kind = kind_t::poisson;
  function_spec defaults;              ///< experiment defaults with this workload's overrides
  std::vector<function_shape> shapes;  ///< cycled over the functions; empty = the defaults
  double service_ms_lo = 0, service_ms_hi = 0; ///< per-function mean, log-uniform, if hi > 0
  uint32_t functions = 1;
  // poisson / diurnal
  double rate = 10;          ///< requests/s per function
  double total_rate = 0;     ///< if > 0: split over the functions by Zipf(zipf_s) instead
  double zipf_s = 0;
  // on_off / mmpp: states visited in a cycle
  std::vector<double> rates;
  std::vector<double> sojourn_s;
  // diurnal
  double amplitude = 0.5;
  double period_s = 86400;
  bool random_phase = true;
  // periodic_burst (and published files with a burst pattern)
  double burst_period_s = 0;
  uint32_t burst_requests = 0;
  double burst_spread_s = 5;
  // published
  std::string file;
  std::shared_ptr<const published_workload> published;
  // azure / azure_synthetic
  std::shared_ptr<const azure_trace> trace;
  uint32_t start_minute = 0;
  double rate_scale = 1;
  // mix: several workloads side by side on the same cluster (their functions together)
  std::vector<workload_spec> parts;
};

/// A published claim to compare a measured result with: `policy` vs `baseline` on `metric`,
/// relative change (policy - baseline) / baseline; e.g. -0.62 for "p99 -62 %".
struct claim_spec {
  std::string name;
  std::string metric;
  std::string policy;
  std::string baseline;
  std::string workload; ///< empty: every workload
  /// The published relative change; with has_published_size false only its sign counts (the
  /// paper states a direction without a figure; `direction:` in the file).
  double published_change = 0;
  bool has_published_size = true;
  std::string published; ///< the claim as published, text
};

struct experiment {
  std::string file;
  std::string name;
  std::string description;
  sim_options options; ///< seed set per run
  std::vector<uint64_t> seeds;
  std::vector<node_spec> nodes;
  std::vector<policy_spec> policies;
  std::vector<workload_spec> workloads;
  std::vector<claim_spec> claims;
  bool plots = true;
  std::string plot_format = "png";
};

/// The metrics a claim (or a report column) can name.
const std::vector<std::string>& metric_names();
/// The value of metric `name` in `r` (names from metric_names()).
double metric_value(const run_result& r, const std::string& name);

/// Reads and validates an experiment file. Relative file names inside it (workload files,
/// traces) are relative to the experiment file's directory.
core::expected<experiment> read_experiment(const std::string& file,
                                           const policy_registries& registries);
/// The same for a document already in memory (the lab fuzzer); `file` names it in errors and
/// is the base for relative file names inside it.
core::expected<experiment> parse_experiment(const std::string& text, const std::string& file,
                                            const policy_registries& registries);

/// The workload's functions, chains and sources for one seed (service-time means drawn from a
/// range, and every random choice, follow the seed). `duration_s` bounds trace-driven sources.
core::expected<workload_model> build_workload(const workload_spec& spec, uint64_t seed,
                                              double duration_s);

} // namespace spry::policies::lab
