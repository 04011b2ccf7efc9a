// lab_bench: how long the policy lab takes to simulate a large cluster, the scale the design asks
// of it: 1,000 functions on 100 nodes over a 1-hour trace (Azure-Functions-like: per-minute counts
// synthesised in the public trace's format), once per policy set. Reports the wall time of the
// simulation alone (the trace and workload are built before the clock starts) and its rates.
//
//   lab_bench [--functions 1000] [--nodes 100] [--minutes 60] [--rate-scale 1] [--seed 1]
#include "policies/lab/azure_trace.hpp"
#include "policies/lab/experiment.hpp"
#include "policies/lab/simulator.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <memory>

using namespace spry::policies;
using namespace spry::policies::lab;

int main(int argc, char** argv) {
  CLI::App app{"lab_bench: wall time of the policy lab at scale"};
  size_t functions = 1000, nodes = 100;
  double minutes = 60, rate_scale = 1;
  uint64_t seed = 1;
  app.add_option("--functions", functions, "functions in the trace")->check(CLI::PositiveNumber);
  app.add_option("--nodes", nodes, "nodes (32 cores, 128 GB each)")->check(CLI::PositiveNumber);
  app.add_option("--minutes", minutes, "trace minutes simulated")->check(CLI::Range(1.0, 1440.0));
  app.add_option("--rate-scale", rate_scale, "multiply every per-minute count");
  app.add_option("--seed", seed, "trace and run seed");
  CLI11_PARSE(app, argc, argv);

  policy_registries registries;
  register_all(registries);

  workload_spec w;
  w.name = "azure-like";
  w.kind = workload_spec::kind_t::azure_synthetic;
  w.trace = std::make_shared<azure_trace>(synthesize_azure_trace(functions, seed));
  w.functions = static_cast<uint32_t>(functions);
  w.start_minute = static_cast<uint32_t>(std::min(480.0, 1440 - minutes));
  w.rate_scale = rate_scale;
  w.service_ms_lo = 10;
  w.service_ms_hi = 300;
  w.defaults.slo_service_multiple = 10;
  w.defaults.memory_mb = 256;

  std::vector<node_spec> cluster(nodes, node_spec{32, 131072, 1.0});
  sim_options o;
  o.duration_s = minutes * 60;
  o.warmup_s = 0;
  o.seed = seed;

  struct set {
    const char* name;
    const char* lb;
    const char* autoscaler;
    const char* placement;
  };
  const set sets[] = {{"knative-default", "round_robin", "kpa", "spread"},
                      {"mu", "mu", "mu", "mu"},
                      {"lass", "least_connections", "lass", "spread"}};
  std::printf("lab_bench: %zu functions, %zu nodes, %.0f min of trace (seed %llu)\n\n", functions,
              nodes, minutes, static_cast<unsigned long long>(seed));
  std::printf("%-16s %10s %12s %12s %12s %10s %10s\n", "policies", "wall s", "requests",
              "events", "events/s", "mean inst", "p99 ms");
  for (const auto& s : sets) {
    policy_spec p;
    p.name = s.name;
    p.load_balancer = s.lb;
    p.autoscaler = s.autoscaler;
    p.placement = s.placement;
    auto model = build_workload(w, seed, o.duration_s);
    if (!model) {
      std::fprintf(stderr, "lab_bench: %s\n", model.err().message.c_str());
      return 1;
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto r = simulate(cluster, std::move(*model), p, registries, o);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r) {
      std::fprintf(stderr, "lab_bench: %s\n", r.err().message.c_str());
      return 1;
    }
    std::printf("%-16s %10.2f %12llu %12llu %12.3g %10.1f %10.1f\n", s.name, wall,
                static_cast<unsigned long long>(r->requests),
                static_cast<unsigned long long>(r->events), r->events / wall, r->mean_instances,
                r->p99_ms);
  }
  return 0;
}
