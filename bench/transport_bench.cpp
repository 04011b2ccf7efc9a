// transport_bench: the hello chain on several transports in one run, side by side, each as a
// real `spry run` process tree driven by the same closed-loop load. Reports requests/s, p50/p99
// latency and CPU time per request of the whole tree (gateway, instances, sidecars, nginx),
// and every figure as a ratio to the first configuration (local).
//
//   build/bench/transport_bench -c 8 -d 3s
#include "bench/load/child_process.hpp"
#include "bench/load/http_load.hpp"
#include "core/config.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <dirent.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace spry;

namespace {

struct setup {
  std::string name;
  std::string yaml_extra; // lines added to the app file
};

std::string exe_dir() { return fs::read_symlink("/proc/self/exe").parent_path().string(); }

} // namespace

int main(int argc, char** argv) {
  CLI::App cli{"transport_bench: the hello chain on local, tcp (direct, broker, broker + "
               "sidecars) and tcp behind nginx, in one run, with CPU per request"};
  std::string spry = exe_dir() + "/../gateway/spry";
  std::string library = exe_dir() + "/../examples/hello/libspry_hello.so";
  std::string duration = "3s", body = "hello spry, hello edge";
  unsigned connections = 8;
  std::vector<std::string> only;
  cli.add_option("--spry", spry, "The spry binary")->capture_default_str();
  cli.add_option("--library", library, "The hello function library")->capture_default_str();
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
  for (const auto& f : {spry, library})
    if (!fs::exists(f)) {
      std::cerr << "transport_bench: " << f << " not found (build first, or pass --spry/--library)\n";
      return 2;
    }

  const std::vector<setup> all = {
    {"local", "transport: local\n"},
    {"shm-skmsg", "transport: shm-skmsg\n"},
    {"tcp-direct", "transport: tcp\nrouting: direct\n"},
    {"tcp-broker", "transport: tcp\nrouting: broker\n"},
    {"tcp-broker-sidecar", "transport: tcp\nrouting: broker\ntcp: {sidecar: true}\n"},
    {"tcp-nginx", "transport: tcp\nrouting: direct\ntcp: {sidecar: true, front_end: nginx}\n"},
  };
  char tmpl[] = "/tmp/spry-bench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);

  struct row {
    std::string name;
    bench::load_result r;
    double cpu_us_per_req;
    double idle_cpu_pct;
  };
  std::vector<row> rows;
  std::printf("transport_bench: hello chain (upper -> count), %u connections, %s per setup\n",
              connections, duration.c_str());
  for (const auto& s : all) {
    if (!only.empty() && std::find(only.begin(), only.end(), s.name) == only.end())
      continue;
    const std::string app = dir + "/" + s.name + ".yaml";
    std::ofstream(app) << "app: hello\n" << s.yaml_extra << "libraries: [" << library << "]\n"
                       << "gateway: {listen: '127.0.0.1:0', io_threads: 1}\nworkers: 1\n"
                       << "functions:\n  - {name: upper, handler: hello.uppercase}\n"
                       << "  - {name: count, handler: hello.count}\n"
                       << "chains:\n  - {name: hello, http: {method: POST, path: /hello}, "
                          "functions: [upper, count]}\n";
    bench::child_process p({spry, "run", app, "--log-level", "warn"}, dir + "/" + s.name + ".stderr");
    auto line = p.wait_for_line("listening on http://", std::chrono::seconds(30));
    std::smatch m;
    if (!line || !std::regex_search(*line, m, std::regex("127\\.0\\.0\\.1:(\\d+)"))) {
      if (s.name == "shm-skmsg" && geteuid() != 0) { // needs root for its eBPF program
        std::printf("  %-20s skipped: needs root\n", s.name.c_str());
        continue;
      }
      std::cerr << "transport_bench: " << s.name << " did not start:\n"
                << bench::read_file(dir + "/" + s.name + ".stderr");
      return 1;
    }
    bench::load_options o;
    o.port = static_cast<uint16_t>(std::stoul(m[1]));
    o.path = "/hello";
    o.body = body;
    o.connections = connections;
    o.warmup = std::chrono::milliseconds(0);
    o.duration = std::chrono::milliseconds(500);
    bench::run_load(o); // warm-up: connections, caches, instance pools
    // Idle cost: CPU of the whole tree over one second with nothing to do.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const double idle0 = bench::tree_cpu_seconds(p.pid());
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double idle_pct = (bench::tree_cpu_seconds(p.pid()) - idle0) * 100.0;
    o.duration = std::chrono::milliseconds(*d);
    const double cpu0 = bench::tree_cpu_seconds(p.pid());
    auto r = bench::run_load(o);
    const double cpu1 = bench::tree_cpu_seconds(p.pid());
    p.stop(SIGTERM, std::chrono::seconds(10));
    if (!r || r->ok() == 0) {
      std::cerr << "transport_bench: " << s.name << ": no successful request\n";
      return 1;
    }
    const double cpu_us = (cpu1 - cpu0) * 1e6 / static_cast<double>(r->ok());
    std::printf("  %-20s %s\n", s.name.c_str(), r->summary().c_str());
    rows.push_back({s.name, std::move(*r), cpu_us, idle_pct});
  }
  fs::remove_all(dir);
  if (rows.empty())
    return 1;
  const auto& base = rows.front();
  std::printf("\n%-20s %10s %10s %10s %14s %10s %10s %12s %10s\n", "setup", "req/s", "p50 us",
              "p99 us", "CPU us/req", "req/s x", "p50 x", "CPU/req x", "idle CPU%");
  for (const auto& rw : rows)
    std::printf("%-20s %10.0f %10.1f %10.1f %14.1f %10.3f %10.3f %12.3f %10.1f\n", rw.name.c_str(),
                rw.r.requests_per_second(), rw.r.latency_ns.percentile(0.5) / 1e3,
                rw.r.latency_ns.percentile(0.99) / 1e3, rw.cpu_us_per_req,
                rw.r.requests_per_second() / base.r.requests_per_second(),
                static_cast<double>(rw.r.latency_ns.percentile(0.5)) / base.r.latency_ns.percentile(0.5),
                rw.cpu_us_per_req / base.cpu_us_per_req, rw.idle_cpu_pct);
  return 0;
}
