// transport_bench: the hello chain on several setups in one run, side by side, printed as one
// terminal table with every figure as a ratio to the first setup. A thin front end over the
// machinery of `spry bench` (bench/driver/): same setups, same process trees, same /proc CPU.
// For workloads, plots, CSV and JSON use `spry bench`.
//
//   build/bench/transport_bench -c 8 -d 3s
#include "bench/driver/setup_run.hpp"
#include "core/config.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace fs = std::filesystem;
using namespace spry;

int main(int argc, char** argv) {
  CLI::App cli{"transport_bench: the hello chain on local, shm-skmsg, tcp (direct, broker, broker + "
               "sidecars) and tcp behind nginx, in one run, with CPU per request"};
  const std::string exe_dir = fs::read_symlink("/proc/self/exe").parent_path().string();
  std::string spry = exe_dir + "/../gateway/spry";
  std::string app = exe_dir + "/../examples/hello/hello.yaml";
  std::string duration = "3s", body = "hello spry, hello edge";
  unsigned connections = 8;
  std::vector<std::string> only;
  cli.add_option("--spry", spry, "The spry binary")->capture_default_str();
  cli.add_option("--app", app, "The hello app file")->capture_default_str();
  cli.add_option("--connections,-c", connections, "Closed-loop connections")->capture_default_str();
  cli.add_option("--duration,-d", duration, "Measured time per setup")->capture_default_str();
  cli.add_option("--only", only, "Run only these setups (local, shm-skmsg, tcp-direct, tcp-broker, "
                                 "tcp-broker-sidecar, tcp-nginx)");
  CLI11_PARSE(cli, argc, argv);
  auto d = core::parse_duration_ms(duration);
  if (!d) {
    std::cerr << "transport_bench: " << d.err().message << "\n";
    return 2;
  }
  for (const auto& f : {spry, app})
    if (!fs::exists(f)) {
      std::cerr << "transport_bench: " << f << " not found (build first, or pass --spry/--app)\n";
      return 2;
    }

  bench::workload w;
  w.app_file = app;
  w.requests = {{"hello", "POST", "/hello", body, 0, "text/plain", 1}};
  w.load.connections = connections;
  w.load.warmup = std::chrono::milliseconds(500);
  w.load.duration = std::chrono::milliseconds(*d);
  w.idle = std::chrono::milliseconds(1000);
  char tmpl[] = "/tmp/spry-bench-XXXXXX";
  bench::run_settings rs;
  rs.spry_binary = spry;
  rs.work_dir = mkdtemp(tmpl);

  std::printf("transport_bench: hello chain (upper -> count), %u connections, %s per setup\n",
              connections, duration.c_str());
  std::vector<bench::setup_result> rows;
  for (const char* name : {"local", "shm-skmsg", "tcp-direct", "tcp-broker", "tcp-broker-sidecar", "tcp-nginx"}) {
    if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end())
      continue;
    auto r = bench::run_setup(w, *bench::setup_named(name), rs);
    if (!r.ran) {
      std::printf("  %-20s skipped: %s\n", name, r.skipped.c_str());
      continue;
    }
    std::printf("  %-20s %s\n", name, r.load.summary().c_str());
    rows.push_back(std::move(r));
  }
  fs::remove_all(rs.work_dir);
  if (rows.empty())
    return 1;
  const auto& base = rows.front();
  std::printf("\n%-20s %10s %10s %10s %14s %10s %10s %12s %10s\n", "setup", "req/s", "p50 us",
              "p99 us", "CPU us/req", "req/s x", "p50 x", "CPU/req x", "idle CPU%");
  for (const auto& rw : rows) {
    const auto& l = rw.load;
    std::printf("%-20s %10.0f %10.1f %10.1f %14.1f %10.3f %10.3f %12.3f %10.1f\n",
                rw.config.name.c_str(), l.requests_per_second(), l.latency_ns.percentile(0.5) / 1e3,
                l.latency_ns.percentile(0.99) / 1e3, rw.cpu_per_request() * 1e6,
                l.requests_per_second() / base.load.requests_per_second(),
                static_cast<double>(l.latency_ns.percentile(0.5)) / base.load.latency_ns.percentile(0.5),
                rw.cpu_per_request() / base.cpu_per_request(),
                rw.idle_seconds > 0 ? 100 * rw.idle_cpu_seconds() / rw.idle_seconds : 0);
  }
  return 0;
}
