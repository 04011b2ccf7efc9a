// lab_bench: how long the policy lab takes to simulate a large cluster, the scale the design asks
// of it: 1,000 functions on 100 nodes over a 1-hour trace (Azure-Functions-like: per-minute counts
// synthesised in the public trace's format), once per policy set; and further, 10,000 functions
// on 1,000 nodes, or a whole day (--minutes 1440).
//
// Each policy set runs in a child process of its own, so that its peak memory (ru_maxrss, from
// wait4) and CPU time are its own and not the maximum of everything before it. The wall time
// covers the simulation alone (the trace and workload are built before the clock starts); CPU
// time is the child's whole life (workload building included), and is the figure to read when
// the machine is shared.
//
// The cluster is sized to the work unless --nodes says otherwise: one node per ten functions (the
// design's 1,000 x 100), or more if the work needs it: every function invoked in the simulated
// minutes its busiest minute's work at 70 % utilisation (KPA's target), at least one instance (an
// idle function keeps one for 90 s after each use), with 25 % headroom, in 32-core nodes. A
// --nodes below that is reported: the cluster would collapse (queues grow without bound, as 4,000
// functions on 100 nodes did) and the run would measure the collapse instead.
//
//   lab_bench [--functions 1000] [--nodes N] [--minutes 60] [--rate-scale 1] [--seed 1]
//             [--sets knative-default,mu,lass]
#include "policies/lab/azure_trace.hpp"
#include "policies/lab/experiment.hpp"
#include "policies/lab/simulator.hpp"

#include <CLI/CLI.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

using namespace spry::policies;
using namespace spry::policies::lab;

namespace {

constexpr double node_cores = 32;

/// What a child reports back through its pipe.
struct outcome {
  bool ok;
  double wall_s;
  uint64_t requests, events;
  double mean_instances, p99_ms, slo_violation_rate;
};

/// Cores the trace's functions need: each its own busiest minute's work at 70 % utilisation,
/// and at least one instance (see the file comment).
double needed_cores(const workload_model& m, const azure_trace& t, uint32_t start, size_t minutes,
                    double rate_scale) {
  double cores = 0;
  for (size_t f = 0; f < m.functions.size() && f < t.functions.size(); ++f) {
    const auto& c = t.functions[f].counts;
    double peak = 0;
    for (size_t k = 0; k < minutes && start + k < c.size(); ++k)
      peak = std::max(peak, c[start + k] * rate_scale);
    if (peak <= 0)
      continue;
    const double work = peak / 60 * m.functions[f].service.mean_s / 0.7;
    cores += m.functions[f].cpu * std::max(1.0, std::ceil(work));
  }
  return cores;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"lab_bench: wall time and peak memory of the policy lab at scale"};
  size_t functions = 1000, nodes = 0;
  double minutes = 60, rate_scale = 1;
  uint64_t seed = 1;
  std::vector<std::string> only;
  app.add_option("--functions", functions, "functions in the trace")->check(CLI::PositiveNumber);
  app.add_option("--nodes", nodes, "nodes (32 cores, 128 GB each); default: sized to the work");
  app.add_option("--minutes", minutes, "trace minutes simulated")->check(CLI::Range(1.0, 1440.0));
  app.add_option("--rate-scale", rate_scale, "multiply every per-minute count");
  app.add_option("--seed", seed, "trace and run seed");
  app.add_option("--sets", only, "policy sets to run (default: all)")->delimiter(',');
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

  sim_options o;
  o.duration_s = minutes * 60;
  o.warmup_s = 0;
  o.seed = seed;
  o.record_series = false; // a benchmark: nobody reads the per-tick series

  size_t needed = 0;
  {
    auto model = build_workload(w, seed, o.duration_s);
    if (!model) {
      std::fprintf(stderr, "lab_bench: %s\n", model.err().message.c_str());
      return 1;
    }
    const double cores =
      needed_cores(*model, *w.trace, w.start_minute, static_cast<size_t>(minutes), rate_scale);
    needed = static_cast<size_t>(std::ceil(cores * 1.25 / node_cores));
  }
  // By default one node per ten functions (the design's 1,000 x 100), more if the work needs it.
  if (nodes == 0)
    nodes = std::max<size_t>({1, needed, (functions + 9) / 10});
  std::vector<node_spec> cluster(nodes, node_spec{node_cores, 131072, 1.0});

  struct set {
    const char* name;
    const char* lb;
    const char* autoscaler;
    const char* placement;
  };
  const set sets[] = {{"knative-default", "round_robin", "kpa", "spread"},
                      {"mu", "mu", "mu", "mu"},
                      {"lass", "least_connections", "lass", "spread"}};
  std::printf("lab_bench: %zu functions, %zu nodes (the work needs %zu%s), %.0f min of trace "
              "(seed %llu)\n\n",
              functions, nodes, needed, nodes < needed ? ": TOO FEW, expect collapse" : "",
              minutes, static_cast<unsigned long long>(seed));
  std::printf("%-16s %8s %8s %9s %10s %10s %10s %9s %9s %8s\n", "policies", "wall s", "cpu s",
              "peak MB", "requests", "events", "events/s", "mean inst", "p99 ms", "SLO viol");
  std::fflush(stdout);
  int status = 0;
  for (const auto& s : sets) {
    if (!only.empty() && std::find(only.begin(), only.end(), s.name) == only.end())
      continue;
    int fds[2];
    if (::pipe(fds) != 0)
      return 1;
    const pid_t pid = ::fork();
    if (pid < 0)
      return 1;
    if (pid == 0) {
      ::close(fds[0]);
      outcome out{};
      policy_spec p;
      p.name = s.name;
      p.load_balancer = s.lb;
      p.autoscaler = s.autoscaler;
      p.placement = s.placement;
      auto model = build_workload(w, seed, o.duration_s);
      if (model) {
        const auto t0 = std::chrono::steady_clock::now();
        auto r = simulate(cluster, std::move(*model), p, registries, o);
        out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r) {
          out = outcome{true, out.wall_s, r->requests, r->events, r->mean_instances, r->p99_ms,
                        r->slo_violation_rate};
        } else {
          std::fprintf(stderr, "lab_bench: %s\n", r.err().message.c_str());
        }
      } else {
        std::fprintf(stderr, "lab_bench: %s\n", model.err().message.c_str());
      }
      const bool sent = ::write(fds[1], &out, sizeof out) == static_cast<ssize_t>(sizeof out);
      ::_exit(sent && out.ok ? 0 : 1);
    }
    ::close(fds[1]);
    outcome out{};
    const bool got = ::read(fds[0], &out, sizeof out) == static_cast<ssize_t>(sizeof out);
    ::close(fds[0]);
    int wstatus = 0;
    struct rusage ru{};
    ::wait4(pid, &wstatus, 0, &ru);
    if (!got || !out.ok || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
      std::fprintf(stderr, "lab_bench: policy set %s failed\n", s.name);
      status = 1;
      continue;
    }
    const double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                       ru.ru_stime.tv_usec / 1e6;
    std::printf("%-16s %8.2f %8.2f %9.1f %10llu %10llu %10.3g %9.1f %9.1f %7.2f%%\n", s.name,
                out.wall_s, cpu, ru.ru_maxrss / 1024.0,
                static_cast<unsigned long long>(out.requests),
                static_cast<unsigned long long>(out.events), out.events / out.wall_s,
                out.mean_instances, out.p99_ms, out.slo_violation_rate * 100);
    std::fflush(stdout);
  }
  return status;
}
