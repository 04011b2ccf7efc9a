// transport_bench: the hello chain on several setups in one run, side by side, printed as one
// terminal table with every figure as a ratio to the first setup. A thin front end over the
// machinery of `spry bench` (bench/driver/): same setups, same process trees, same /proc CPU.
// Besides throughput, latency and CPU per request it shows the idle CPU of each tree in total and
// per process (a polling transport burns a core per process, an event-driven one nothing) and
// the unloaded latency of one request at a time.
//
// Beside the chains, the HTTP floor: a bare Beast echo server (bench/http_floor.cpp) under the
// same load, so the gateway's CPU per request can be read against what HTTP alone costs.
//
// Then the hop itself: for every transport that offers it, the bare primitive under its hop next
// to the transport's own hop, measured by this program, and their ratio: shm-dpdk against a
// rte_ring ping-pong between two processes, shm-skmsg against a blocking sk_msg ping-pong
// between two processes, local against a bare CAF actor message. For workloads, plots, CSV and
// JSON use `spry bench`.
//
//   build/bench/transport_bench -c 8 -d 3s
#include "bench/driver/setup_run.hpp"
#include "core/config.hpp"
#include "core/transport_registry.hpp"
#include "transports/register.hpp"

#include <CLI/CLI.hpp>

#include <csignal>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <regex>
#include <thread>

namespace fs = std::filesystem;
using namespace spry;

namespace {

// The HTTP floor as a row like the setups': the bare Beast echo server under the same load,
// its CPU from /proc over the measured window and over the quiet period.
bench::setup_result run_floor(const bench::workload& w, const std::string& binary,
                              const std::string& work_dir) {
  bench::setup_result out;
  out.config.name = "http-floor";
  out.config.description = "bare Boost.Beast echo server, 1 I/O thread (the gateway's default)";
  if (!fs::exists(binary)) {
    out.skipped = binary + " not found (build target http_floor)";
    return out;
  }
  bench::child_process server({binary}, work_dir + "/http_floor.stderr");
  std::smatch m;
  auto line = server.wait_for_line("listening on http://", std::chrono::seconds(10));
  if (!line || !std::regex_search(*line, m, std::regex("127\\.0\\.0\\.1:(\\d+)"))) {
    out.skipped = "http_floor did not start: " + bench::read_file(work_dir + "/http_floor.stderr");
    return out;
  }
  bench::load_options o = w.load;
  o.host = "127.0.0.1";
  o.port = static_cast<uint16_t>(std::stoul(m[1]));
  o.requests = w.requests;
  std::vector<bench::process_sample> before;
  bool sampled = false;
  o.on_measure_start = [&] {
    before = bench::sample_tree(server.pid());
    sampled = true;
  };
  auto r = bench::run_load(o);
  if (!sampled)
    before = bench::sample_tree(server.pid());
  const auto after = bench::sample_tree(server.pid());
  if (!r) {
    out.skipped = r.err().message;
    return out;
  }
  out.ran = true;
  out.load = std::move(*r);
  out.busy = bench::difference(after, before);
  out.busy_seconds = out.load.seconds;
  if (w.idle.count() > 0) {
    const auto idle0 = bench::sample_tree(server.pid());
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(w.idle);
    out.idle = bench::difference(bench::sample_tree(server.pid()), idle0);
    out.idle_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  if (!server.stop(SIGTERM, std::chrono::seconds(5)))
    server.stop(SIGKILL, std::chrono::seconds(5));
  return out;
}

} // namespace

int main(int argc, char** argv) {
  core::transport_registry registry;
  transports::register_all(registry);
  // A hop measurement re-runs this program as its other process.
  for (const auto* e : registry.entries())
    if (e->role_main)
      if (auto code = e->role_main())
        return *code;

  CLI::App cli{"transport_bench: the hello chain on local, shm-skmsg, shm-dpdk, tcp (direct, "
               "broker, broker + sidecars) and tcp behind nginx, in one run, with CPU per request, "
               "idle CPU per process and the bare hop of each polling transport"};
  const std::string exe_dir = fs::read_symlink("/proc/self/exe").parent_path().string();
  std::string spry = exe_dir + "/../spry";
  std::string app = exe_dir + "/../examples/hello/hello.yaml";
  std::string floor = exe_dir + "/http_floor";
  std::string duration = "3s", body = "hello spry, hello edge";
  unsigned connections = 8;
  unsigned round_trips = 20000;
  std::vector<std::string> only;
  cli.add_option("--spry", spry, "The spry binary")->capture_default_str();
  cli.add_option("--app", app, "The hello app file")->capture_default_str();
  cli.add_option("--connections,-c", connections, "Closed-loop connections")->capture_default_str();
  cli.add_option("--duration,-d", duration, "Measured time per setup")->capture_default_str();
  cli.add_option("--http-floor", floor, "The bare Beast echo server")->capture_default_str();
  cli.add_option("--only", only, "Run only these setups (local, shm-skmsg, shm-dpdk, shm-dpdk-yield, "
                                 "shm-dpdk-spin, tcp-direct, tcp-broker, tcp-broker-sidecar, "
                                 "tcp-nginx, http-floor, hops); a list: --only local,hops")
    ->delimiter(',');
  cli.add_option("--round-trips", round_trips, "Round trips per hop measurement")
    ->capture_default_str();
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
  const auto wanted = [&](const std::string& name) {
    return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
  };

  bench::workload w;
  w.app_file = app;
  w.requests = {{"hello", "POST", "/hello", body, 0, "text/plain", 1}};
  w.load.connections = connections;
  w.load.warmup = std::chrono::milliseconds(500);
  w.load.duration = std::chrono::milliseconds(*d);
  w.idle = std::chrono::milliseconds(2000);
  // Unloaded: one connection, one request at a time: the chain's hops plus HTTP, no queueing.
  bench::workload w1 = w;
  w1.load.connections = 1;
  w1.load.duration = std::chrono::milliseconds(1000);
  w1.idle = std::chrono::milliseconds(0);
  char tmpl[] = "/tmp/spry-bench-XXXXXX";
  bench::run_settings rs;
  rs.spry_binary = spry;
  rs.work_dir = mkdtemp(tmpl);

  struct row {
    bench::setup_result r;
    double unloaded_p50_us = 0;
  };
  std::vector<row> rows;
  std::printf("transport_bench: hello chain (upper -> count), %u connections, %s per setup\n",
              connections, duration.c_str());
  if (wanted("http-floor")) {
    auto r = run_floor(w, floor, rs.work_dir);
    if (!r.ran) {
      std::printf("  %-20s skipped: %s\n", "http-floor", r.skipped.c_str());
    } else {
      std::printf("  %-20s %s\n", "http-floor", r.load.summary().c_str());
      auto one = run_floor(w1, floor, rs.work_dir);
      rows.push_back({std::move(r), one.ran && one.load.ok() ? one.load.latency_ns.percentile(0.5) / 1e3
                                                             : 0.0});
    }
  }
  for (const char* name : {"local", "shm-skmsg", "shm-dpdk", "shm-dpdk-yield", "shm-dpdk-spin",
                           "tcp-direct", "tcp-broker", "tcp-broker-sidecar", "tcp-nginx"}) {
    if (!wanted(name))
      continue;
    auto r = bench::run_setup(w, *bench::setup_named(name), rs);
    if (!r.ran) {
      std::printf("  %-20s skipped: %s\n", name, r.skipped.c_str());
      continue;
    }
    std::printf("  %-20s %s\n", name, r.load.summary().c_str());
    auto one = bench::run_setup(w1, *bench::setup_named(name), rs);
    rows.push_back({std::move(r), one.ran && one.load.ok() ? one.load.latency_ns.percentile(0.5) / 1e3
                                                           : 0.0});
  }
  fs::remove_all(rs.work_dir);

  // -- the hop and its primitive ----------------------------------------------------------------
  std::vector<std::pair<std::string, core::hop_measurement>> hops;
  if (wanted("hops"))
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

  if (rows.empty() && hops.empty()) {
    std::cerr << "transport_bench: nothing ran (--only names no known setup?)\n";
    return 1;
  }
  if (!rows.empty()) {
    // Ratios to local (the floor of a hop) when it ran, else to the first row.
    const auto base_row = std::find_if(rows.begin(), rows.end(),
                                       [](const row& r) { return r.r.config.name == "local"; });
    const auto& base = (base_row != rows.end() ? *base_row : rows.front()).r;
    std::printf("\n%-20s %10s %10s %10s %12s %9s %8s %10s %10s %6s %11s %13s\n", "setup", "req/s",
                "p50 us", "p99 us", "CPU us/req", "req/s x", "p50 x", "CPU/req x", "idle CPU%",
                "procs", "idle%/proc", "unloaded p50");
    for (const auto& [rw, unloaded] : rows) {
      const auto& l = rw.load;
      const double idle_pct = rw.idle_seconds > 0 ? 100 * rw.idle_cpu_seconds() / rw.idle_seconds : 0;
      const size_t procs = std::max<size_t>(1, rw.idle.size());
      std::printf("%-20s %10.0f %10.1f %10.1f %12.1f %9.3f %8.3f %10.3f %10.1f %6zu %11.1f %13.1f\n",
                  rw.config.name.c_str(), l.requests_per_second(), l.latency_ns.percentile(0.5) / 1e3,
                  l.latency_ns.percentile(0.99) / 1e3, rw.cpu_per_request() * 1e6,
                  l.requests_per_second() / base.load.requests_per_second(),
                  static_cast<double>(l.latency_ns.percentile(0.5)) / base.load.latency_ns.percentile(0.5),
                  rw.cpu_per_request() / base.cpu_per_request(), idle_pct, procs,
                  idle_pct / static_cast<double>(procs), unloaded);
    }
    std::printf("(idle CPU%%: the whole tree over %.0f s of no load, 100 = one core; unloaded p50 us: "
                "one connection, the chain's hops plus HTTP)\n", w.idle.count() / 1e3);
    const auto floor_row = std::find_if(rows.begin(), rows.end(),
                                        [](const row& r) { return r.r.config.name == "http-floor"; });
    if (floor_row != rows.end() && base_row != rows.end() && floor_row->r.cpu_per_request() > 0)
      std::printf("local's CPU per request is %.2fx the HTTP floor's (bare Beast echo server)\n",
                  base.cpu_per_request() / floor_row->r.cpu_per_request());
  }
  if (!hops.empty()) {
    // Each transport lists its bare primitive first: the ratios are to that line.
    std::printf("\n%-10s %-66s %11s %10s %10s %10s %8s %8s\n", "transport", "one-way hop",
                "round trips", "p50 ns", "p99 ns", "mean ns", "p50 x", "mean x");
    const core::hop_measurement* primitive = nullptr;
    std::string primitive_of;
    for (const auto& [name, h] : hops) {
      if (name != primitive_of) {
        primitive = &h;
        primitive_of = name;
      }
      std::printf("%-10s %-66s %11llu %10.0f %10.0f %10.0f %8.2f %8.2f\n", name.c_str(),
                  h.what.c_str(), static_cast<unsigned long long>(h.round_trips), h.p50_ns,
                  h.p99_ns, h.mean_ns, primitive->p50_ns > 0 ? h.p50_ns / primitive->p50_ns : 0.0,
                  primitive->mean_ns > 0 ? h.mean_ns / primitive->mean_ns : 0.0);
    }
    std::printf("(x: the transport's hop as a multiple of its bare primitive, the first line of "
                "each transport)\n");
  }
  return 0;
}
