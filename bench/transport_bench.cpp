// transport_bench: the hello chain on several transports in one run, side by side, each as a
// real `spry run` process tree driven by the same closed-loop load. Reports requests/s, p50/p99
// latency and CPU time per request of the whole tree (gateway, instances, sidecars, nginx),
// every figure as a ratio to the first configuration (local), the idle CPU of each tree (in
// total and per process: a polling transport burns a core per process, an event-driven one
// nothing), and the unloaded latency of one request.
//
// Then the hop itself: for every transport that offers it (shm-dpdk), the bare primitive under
// its hop (a rte_ring ping-pong between two processes) next to the transport's own hop between
// two processes, measured by this program.
//
//   build/bench/transport_bench -c 8 -d 3s
#include "bench/load/child_process.hpp"
#include "bench/load/http_load.hpp"
#include "core/config.hpp"
#include "core/transport_registry.hpp"
#include "transports/register.hpp"

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
  core::transport_registry registry;
  transports::register_all(registry);
  // A hop measurement re-runs this program as its other process.
  for (const auto* e : registry.entries())
    if (e->role_main)
      if (auto code = e->role_main())
        return *code;

  CLI::App cli{"transport_bench: the hello chain on local, tcp (direct, broker, broker + "
               "sidecars) and tcp behind nginx, in one run, with CPU per request"};
  std::string spry = exe_dir() + "/../gateway/spry";
  std::string library = exe_dir() + "/../examples/hello/libspry_hello.so";
  std::string duration = "3s", body = "hello spry, hello edge";
  unsigned connections = 8;
  std::vector<std::string> only;
  unsigned round_trips = 20000;
  cli.add_option("--spry", spry, "The spry binary")->capture_default_str();
  cli.add_option("--library", library, "The hello function library")->capture_default_str();
  cli.add_option("--connections,-c", connections, "Closed-loop connections")->capture_default_str();
  cli.add_option("--duration,-d", duration, "Measured time per setup")->capture_default_str();
  cli.add_option("--only", only, "Run only these setups (local, shm-skmsg, shm-dpdk, shm-dpdk-spin, "
                                 "tcp-direct, tcp-broker, tcp-broker-sidecar, tcp-nginx, hops)");
  cli.add_option("--round-trips", round_trips, "Round trips per hop measurement")
    ->capture_default_str();
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
    {"shm-dpdk", "transport: shm-dpdk\n"},
    // Pollers that never give their core away: the lowest hop latency when every poller has a
    // core of its own, a time-slice wait per hop when they do not.
    {"shm-dpdk-spin", "transport: shm-dpdk\ndpdk: {idle: spin}\n"},
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
    size_t processes;
    double unloaded_p50_us;
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
      if (s.name.rfind("shm-dpdk", 0) == 0) { // needs DPDK in the build, root and hugepages
        const auto* e = registry.find("shm-dpdk");
        const std::string why = !e ? "not in this build" : e->missing_requirement();
        if (!why.empty()) {
          std::printf("  %-20s skipped: %s\n", s.name.c_str(), why.c_str());
          continue;
        }
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
    // Idle cost: CPU of the whole tree over two seconds with nothing to do.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const size_t processes = 1 + bench::children_of(p.pid()).size();
    const double idle0 = bench::tree_cpu_seconds(p.pid());
    std::this_thread::sleep_for(std::chrono::seconds(2));
    const double idle_pct = (bench::tree_cpu_seconds(p.pid()) - idle0) * 100.0 / 2;
    // Unloaded: one request at a time, the latency of the chain's three hops plus HTTP.
    bench::load_options one = o;
    one.connections = 1;
    one.duration = std::chrono::milliseconds(1000);
    auto unloaded = bench::run_load(one);
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
    rows.push_back({s.name, std::move(*r), cpu_us, idle_pct, processes,
                    unloaded && unloaded->ok() ? unloaded->latency_ns.percentile(0.5) / 1e3 : 0});
  }
  fs::remove_all(dir);

  // -- the hop and its primitive ----------------------------------------------------------------
  std::vector<std::pair<std::string, core::hop_measurement>> hops;
  if (only.empty() || std::find(only.begin(), only.end(), "hops") != only.end())
    for (const auto* e : registry.entries()) {
      if (!e->measure_hops)
        continue;
      if (e->missing_requirement && !e->missing_requirement().empty()) {
        std::printf("  hops of %-12s skipped: %s\n", e->name.c_str(), e->missing_requirement().c_str());
        continue;
      }
      auto m = e->measure_hops(round_trips);
      if (!m) {
        std::cerr << "transport_bench: hops of " << e->name << ": " << m.err().message << "\n";
        return 1;
      }
      for (auto& h : *m)
        hops.emplace_back(e->name, std::move(h));
    }

  if (rows.empty() && hops.empty())
    return 1;
  if (!rows.empty()) {
    const auto& base = rows.front();
    std::printf("\n%-20s %10s %10s %10s %14s %10s %10s %12s %10s %6s %12s %14s\n", "setup", "req/s",
                "p50 us", "p99 us", "CPU us/req", "req/s x", "p50 x", "CPU/req x", "idle CPU%",
                "procs", "idle%/proc", "unloaded p50");
    for (const auto& rw : rows)
      std::printf("%-20s %10.0f %10.1f %10.1f %14.1f %10.3f %10.3f %12.3f %10.1f %6zu %12.1f %14.1f\n",
                  rw.name.c_str(), rw.r.requests_per_second(), rw.r.latency_ns.percentile(0.5) / 1e3,
                  rw.r.latency_ns.percentile(0.99) / 1e3, rw.cpu_us_per_req,
                  rw.r.requests_per_second() / base.r.requests_per_second(),
                  static_cast<double>(rw.r.latency_ns.percentile(0.5)) / base.r.latency_ns.percentile(0.5),
                  rw.cpu_us_per_req / base.cpu_us_per_req, rw.idle_cpu_pct, rw.processes,
                  rw.idle_cpu_pct / static_cast<double>(rw.processes), rw.unloaded_p50_us);
    std::printf("(idle CPU%%: the whole tree, 100 = one core; unloaded p50 us: one connection, the "
                "chain's 3 hops plus HTTP)\n");
  }
  if (!hops.empty()) {
    std::printf("\n%-10s %-58s %12s %10s %10s %10s\n", "transport", "one-way hop between two "
                "processes", "round trips", "p50 ns", "p99 ns", "mean ns");
    for (const auto& [name, h] : hops)
      std::printf("%-10s %-58s %12llu %10.0f %10.0f %10.0f\n", name.c_str(), h.what.c_str(),
                  static_cast<unsigned long long>(h.round_trips), h.p50_ns, h.p99_ns, h.mean_ns);
  }
  return 0;
}
