// activator_bench: KPA's target burst capacity on the live control plane (issue 20 item 2).
//
// One function w (bench.burn: --burn-us of CPU per request, concurrency 1) on instance
// processes, KPA deciding every 100 ms from one instance up to --max instances; bursts of
// --burst requests due at once every --period. Two variants of the same app, alternating in
// every round so that the ratio holds on a shared machine:
//
//   activator  target_burst_capacity: -1: the activator is always in the path. A burst waits at
//              the gateway and each request goes to the first instance with a free slot,
//              including the instances KPA starts for the burst.
//   direct     target_burst_capacity: 0: never in the path. The burst is spread over the
//              instances there are when it arrives and queues at them; instances started for
//              it get only what arrives after they are ready.
//
// Knative's reason for the rule: a burst that lands on too few pods queues behind them while
// new pods sit idle. Latency is measured from when each request was due (open loop, no
// coordinated omission). Prints p50/p90/p99 per variant and round and p99 activator / direct.
// Not a test: it asserts nothing. Every `spry run` it starts is stopped by its PID.
//
//   build/bench/activator_bench --rounds 3
#include "bench/load/child_process.hpp"
#include "bench/load/http_load.hpp"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#if !defined(SPRY_BINARY) || !defined(SPRY_BURN_LIBRARY)
#error "bench/CMakeLists.txt sets SPRY_BINARY and SPRY_BURN_LIBRARY"
#endif

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace spry;

namespace {

struct options {
  unsigned rounds = 3;
  unsigned burn_us = 5000;
  unsigned burst = 32;
  unsigned period_ms = 2500;
  unsigned bursts = 4;
  unsigned max_instances = 4;
  std::string transport = "tcp";
};

std::string app_yaml(const options& o, int tbc) {
  return "app: activator\ntransport: " + o.transport + "\nlibraries: [" SPRY_BURN_LIBRARY "]\n"
         "gateway: { listen: '127.0.0.1:0' }\n"
         "policies:\n  load_balancer: least_connections\n"
         "  autoscaler: { name: kpa, interval: 100ms, params: { target_concurrency: 1,"
         " stable_window_s: 2, panic_window_percentage: 50, target_burst_capacity: " +
         std::to_string(tbc) + " } }\n"
         "functions:\n  - { name: w, handler: bench.burn, min_instances: 1, max_instances: " +
         std::to_string(o.max_instances) + " }\n"
         "chains:\n  - { name: w, http: { path: /w }, functions: [w], timeout: 30s,\n"
         "      pool: { buffers: 256, buffer_size: 4KiB } }\n";
}

struct outcome {
  double p50_ms = 0, p90_ms = 0, p99_ms = 0;
  uint64_t ok = 0, errors = 0;
};

std::optional<outcome> run_variant(const options& o, const fs::path& dir, const std::string& name,
                                   int tbc) {
  const auto file = (dir / (name + ".yaml")).string();
  std::ofstream(file) << app_yaml(o, tbc);
  bench::child_process spry({SPRY_BINARY, "run", file, "--log-level", "info"},
                            (dir / (name + ".log")).string());
  const auto port = spry.wait_for_http_port(30s);
  if (!port) {
    std::fprintf(stderr, "activator_bench: %s did not start (see %s)\n", name.c_str(),
                 (dir / (name + ".log")).c_str());
    return std::nullopt;
  }
  bench::load_options lo;
  lo.port = *port;
  lo.path = "/w";
  lo.body = std::to_string(o.burn_us);
  lo.mode = bench::load_mode::bursts;
  lo.burst_size = o.burst;
  lo.connections = o.burst;
  lo.period = std::chrono::milliseconds(o.period_ms);
  // One quiet burst first (connections open, instances warm), then the measured ones.
  lo.warmup = std::chrono::milliseconds(o.period_ms);
  lo.duration = std::chrono::milliseconds(o.period_ms * o.bursts);
  lo.drain = 20s;
  auto r = bench::run_load(lo);
  if (!r) {
    std::fprintf(stderr, "activator_bench: %s\n", r.err().message.c_str());
    return std::nullopt;
  }
  outcome out;
  out.p50_ms = r->latency_ns.percentile(0.50) / 1e6;
  out.p90_ms = r->latency_ns.percentile(0.90) / 1e6;
  out.p99_ms = r->latency_ns.percentile(0.99) / 1e6;
  out.ok = r->ok();
  out.errors = r->errors();
  return out;
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App cli{"activator_bench: KPA's target burst capacity live: bursts with the activator in "
               "the path (target_burst_capacity -1) against without it (0), alternating"};
  cli.add_option("--rounds", o.rounds, "Rounds (each runs both variants)");
  cli.add_option("--burn-us", o.burn_us, "CPU time each request burns, microseconds");
  cli.add_option("--burst", o.burst, "Requests due at once in each burst");
  cli.add_option("--period-ms", o.period_ms, "Time between bursts, ms");
  cli.add_option("--bursts", o.bursts, "Measured bursts per variant and round");
  cli.add_option("--max-instances", o.max_instances, "KPA's upper bound for the function");
  cli.add_option("--transport", o.transport, "Transport of the app (instance processes: tcp, "
                                             "shm-skmsg, shm-dpdk)");
  CLI11_PARSE(cli, argc, argv);

  const fs::path dir = fs::temp_directory_path() / ("spry-activator-bench-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::printf("activator_bench: %u rounds, bursts of %u x %u us every %u ms, w from 1 to %u "
              "instances on %s; logs in %s\n",
              o.rounds, o.burst, o.burn_us, o.period_ms, o.max_instances, o.transport.c_str(),
              dir.c_str());
  std::map<std::string, std::vector<double>> p99;
  std::vector<double> ratio;
  std::printf("\n| round | variant | p50 ms | p90 ms | p99 ms | answered | errors |\n"
              "|---:|---|---:|---:|---:|---:|---:|\n");
  for (unsigned round = 1; round <= o.rounds; ++round) {
    // Alternate which goes first: the machine's load drifts.
    std::vector<std::pair<std::string, int>> order{{"activator", -1}, {"direct", 0}};
    if (round % 2 == 0)
      std::swap(order[0], order[1]);
    std::map<std::string, outcome> got;
    for (const auto& [name, tbc] : order) {
      auto r = run_variant(o, dir, name + "-" + std::to_string(round), tbc);
      if (!r)
        return 1;
      got[name] = *r;
      p99[name].push_back(r->p99_ms);
      std::printf("| %u | %s | %.1f | %.1f | %.1f | %llu | %llu |\n", round, name.c_str(),
                  r->p50_ms, r->p90_ms, r->p99_ms, static_cast<unsigned long long>(r->ok),
                  static_cast<unsigned long long>(r->errors));
      std::fflush(stdout);
    }
    if (got["direct"].p99_ms > 0)
      ratio.push_back(got["activator"].p99_ms / got["direct"].p99_ms);
  }
  std::printf("\np99 activator / direct per round:");
  for (double x : ratio)
    std::printf(" %.2f", x);
  std::printf("  (median %.2f; p99 medians %.1f ms vs %.1f ms)\n", median(ratio),
              median(p99["activator"]), median(p99["direct"]));
  return 0;
}
