// live_policy_bench: LaSS and Mu on the real control plane (`spry run`, instance processes on the
// tcp transport, CPU limits by cgroup), issue 20 item 5. Two setups, each comparing policies in
// one run so that the ratios hold on a shared, noisy machine:
//
// lass  Two nodes of one CPU each (cpus "0" and "1"), two functions x and y (bench.burn, a CPU
//       burn of --burn-us per request; cpu 0.25, max 6 instances each, weight 1). The same
//       phases for each variant, back to back:
//         warm   x overloaded (closed loop, --users virtual users), y light (open, --light-rps)
//         lull   both light: LaSS deflates x's instances (cpu.max / cfs quota) instead of
//                stopping them
//         surge  x overloaded again: the onset of overload. Re-provisioning time: from the onset
//                to x's first capacity increase, and to x's capacity back at its warm level
//         both   x and y overloaded: the cluster (2 cores) is short; fair share. CPU seconds per
//                function from /proc over the phase's last part, Jain's index over them
//       Variants: lass (min_cpu_fraction 0.5: deflate), lass-terminate (min_cpu_fraction 1: the
//       same policy without deflation, so regaining capacity needs cold starts) and kpa.
//       Capacity is sampled from GET /status every --sample-ms (ready instances times their
//       applied CPU limit as a fraction of their size), so the times are the control plane's
//       real ones: decision interval, process start, cgroup write.
// mu    Two nodes of one CPU each, --per-node instances of one function w on each (bench.burn,
//       cpu 1/k, `fixed`); node b has `instance_cpu_limit: 0.5/k`: its instances are held to
//       half their share of the core by the same cgroup mechanism, a node half as fast.
//       Open-loop load; p50/p99 per load balancer (least_connections, power_of_two_choices, mu), rounds
//       alternating between them, and the share of requests node b's instances served. The machine is shared, so each round first
//       measures what the setup serves saturated (closed loop) and offers --utilization of that
//       (at most of the nominal 1.5 cores / burn time) to every balancer.
//
// Needs a writable cgroup cpu controller (root); says so and stops otherwise. Not a test: it
// asserts nothing. Every `spry run` it starts is stopped by its PID; the gateway removes its
// cgroups when it stops.
//
//   build/bench/live_policy_bench --rounds 3
#include "bench/load/child_process.hpp"
#include "bench/load/http_client.hpp"
#include "bench/load/http_load.hpp"
#include "bench/load/proc_stats.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#if !defined(SPRY_BINARY) || !defined(SPRY_BURN_LIBRARY)
#error "bench/CMakeLists.txt sets SPRY_BINARY and SPRY_BURN_LIBRARY"
#endif

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using namespace spry;

namespace {

struct options {
  unsigned rounds = 2;
  unsigned burn_us = 5000;
  unsigned users = 6;
  double light_rps = 20;
  double phase_s = 4;
  double both_s = 6;
  unsigned sample_ms = 20;
  std::string interval = "100ms";
  double utilization = 0.7;
  double mu_seconds = 6;
  unsigned per_node = 2;
  std::vector<std::string> setups{"lass", "mu"};
};

// -- a `spry run` child ---------------------------------------------------------------------------

struct running_app {
  std::unique_ptr<bench::child_process> process;
  uint16_t port = 0;
};

std::optional<running_app> start_app(const fs::path& dir, const std::string& name,
                                     const std::string& yaml) {
  const auto file = (dir / (name + ".yaml")).string();
  std::ofstream(file) << yaml;
  running_app a;
  a.process = std::make_unique<bench::child_process>(
    std::vector<std::string>{SPRY_BINARY, "run", file, "--log-level", "info"},
    (dir / (name + ".log")).string());
  const auto port = a.process->wait_for_http_port(30s);
  if (!port) {
    std::fprintf(stderr, "live_policy_bench: %s did not start (see %s)\n", name.c_str(),
                 (dir / (name + ".log")).c_str());
    return std::nullopt;
  }
  a.port = *port;
  return a;
}

std::optional<nlohmann::json> status_of(uint16_t port) {
  auto r = bench::http_get(port, "/status", 2s);
  if (r.status != 200)
    return std::nullopt;
  try {
    return nlohmann::json::parse(r.body);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// One function as /status shows it. Capacity in full-size instances: each ready instance counts
/// its applied CPU limit as a fraction of its size (no limit: 1).
struct function_view {
  unsigned ready = 0, starting = 0, desired = 0, unplaced = 0;
  double capacity = 0, cpu_fraction = 1;
};

function_view view_of(const nlohmann::json& f, double cpu) {
  function_view v;
  v.desired = f.value("desired_instances", 0u);
  v.unplaced = f.value("unplaced_instances", 0u);
  v.cpu_fraction = f.value("cpu_fraction", 1.0);
  for (const auto& i : f["instances"]) {
    const std::string state = i.value("state", "");
    if (state == "starting")
      v.starting++;
    if (state != "ready")
      continue;
    v.ready++;
    const double limit = i.value("cpu_limit_cores", 0.0);
    v.capacity += limit > 0 ? std::min(1.0, limit / cpu) : 1.0;
  }
  return v;
}

double pct(std::vector<double> v, double q) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

std::string range(const std::vector<double>& v, const char* fmt = "%.0f") {
  if (v.empty())
    return "n/a";
  char a[64], b[64], c[64];
  std::snprintf(a, sizeof a, fmt, pct(v, 0.5));
  std::snprintf(b, sizeof b, fmt, *std::min_element(v.begin(), v.end()));
  std::snprintf(c, sizeof c, fmt, *std::max_element(v.begin(), v.end()));
  return std::string(a) + " (" + b + "-" + c + ")";
}

// -- load shapes -----------------------------------------------------------------------------------

struct load_shape {
  enum { none, light, heavy } kind = none;
};

bench::load_options load_for(const options& o, uint16_t port, const std::string& path,
                             load_shape s, double seconds) {
  bench::load_options lo;
  lo.port = port;
  lo.path = path;
  lo.body = std::to_string(o.burn_us);
  lo.warmup = 0ms;
  lo.duration = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  lo.drain = 5s;
  if (s.kind == load_shape::heavy) { // overload: more users than the cluster has cores
    lo.mode = bench::load_mode::closed;
    lo.connections = o.users;
  } else {
    lo.mode = bench::load_mode::open;
    lo.rate = o.light_rps;
    lo.connections = 8;
  }
  return lo;
}

// -- setup lass --------------------------------------------------------------------------------

std::string lass_app(const options& o, const std::string& variant) {
  std::string policy;
  if (variant == "lass")
    policy = "{ name: lass, interval: " + o.interval +
             ", params: { min_cpu_fraction: 0.5, scale_to_zero_grace_s: 600 } }";
  else if (variant == "lass-terminate")
    policy = "{ name: lass, interval: " + o.interval +
             ", params: { min_cpu_fraction: 1, scale_to_zero_grace_s: 600 } }";
  else
    policy = "{ name: kpa, interval: " + o.interval +
             ", params: { target_concurrency: 1, stable_window_s: 2, scale_to_zero_grace_s: 600 } }";
  return "app: live-" + variant + "\ntransport: tcp\nrouting: direct\nlibraries: [" SPRY_BURN_LIBRARY
         "]\ngateway: {listen: '127.0.0.1:0'}\n"
         "policies:\n  load_balancer: least_connections\n  autoscaler: " + policy + "\n"
         // A limit of the whole node never binds; it puts every variant's instances in cgroups
         // from the start, as deflated ones are, so the variants share one CPU hierarchy.
         "nodes:\n  - { name: a, cpus: \"0\", instance_cpu_limit: 1 }\n"
         "  - { name: b, cpus: \"1\", instance_cpu_limit: 1 }\n"
         "functions:\n"
         "  - { name: x, handler: bench.burn, cpu: 0.25, min_instances: 1, max_instances: 6 }\n"
         "  - { name: y, handler: bench.burn, cpu: 0.25, min_instances: 1, max_instances: 6 }\n"
         "chains:\n"
         "  - { name: x, http: { path: /x }, functions: [x], timeout: 20s }\n"
         "  - { name: y, http: { path: /y }, functions: [y], timeout: 20s }\n";
}

struct sample {
  double t = 0; ///< seconds since the first phase began
  function_view x, y;
};

struct lass_result {
  bool ok = false;
  double warm_capacity = 0;        ///< x's capacity at the end of warm (instance units)
  double lull_capacity = 0;        ///< x's at the end of lull
  unsigned lull_instances = 0;     ///< x's ready instances at the end of lull
  double first_increase_ms = -1;   ///< surge onset -> x's capacity first grows
  double regained_ms = -1;         ///< surge onset -> x's capacity back at its warm level
  double surge_p99_ms = 0;         ///< x's p99 over the surge phase
  double cpu_x = 0, cpu_y = 0;     ///< CPU seconds per function, last part of `both`
  double alloc_x = 0, alloc_y = 0; ///< mean allocated cores per function over the same part
  double rps_x = 0, rps_y = 0;     ///< answers per second per function over the whole phase
  double jain() const {
    const double s = cpu_x + cpu_y, q = cpu_x * cpu_x + cpu_y * cpu_y;
    return q > 0 ? s * s / (2 * q) : 0;
  }
};

lass_result run_lass(const options& o, const fs::path& dir, const std::string& variant,
                     unsigned round) {
  lass_result res;
  auto app = start_app(dir, variant + "-" + std::to_string(round), lass_app(o, variant));
  if (!app)
    return res;
  const double cpu = 0.25;
  // Warm instance processes: wait until both functions' first instances are ready.
  for (int i = 0; i < 200; ++i) {
    auto s = status_of(app->port);
    if (s && (*s)["functions"].size() == 2 && view_of((*s)["functions"][0], cpu).ready >= 1 &&
        view_of((*s)["functions"][1], cpu).ready >= 1)
      break;
    std::this_thread::sleep_for(50ms);
  }

  struct phase {
    const char* name;
    double seconds;
    load_shape x, y;
  };
  const std::vector<phase> phases{{"warm", o.phase_s, {load_shape::heavy}, {load_shape::light}},
                                  {"lull", o.phase_s, {load_shape::light}, {load_shape::light}},
                                  {"surge", o.phase_s, {load_shape::heavy}, {load_shape::light}},
                                  {"both", o.both_s, {load_shape::heavy}, {load_shape::heavy}}};
  std::vector<sample> samples;
  std::mutex samples_mtx;
  std::atomic<bool> stop{false};
  const auto t0 = steady::now();
  auto since = [&] { return std::chrono::duration<double>(steady::now() - t0).count(); };
  std::thread sampler([&] {
    bench::http_client c(app->port);
    while (!stop) {
      const auto next = steady::now() + std::chrono::milliseconds(o.sample_ms);
      auto r = c.request("GET", "/status", "", 2s);
      // When the answer is back: a later bound on when the state it shows was reached, so the
      // times below are never shorter than the real ones (plus at most the request's time).
      const double t = since();
      if (r.status == 200) {
        try {
          auto j = nlohmann::json::parse(r.body);
          sample s{t, view_of(j["functions"][0], cpu), view_of(j["functions"][1], cpu)};
          std::lock_guard<std::mutex> g{samples_mtx};
          samples.push_back(s);
        } catch (const std::exception&) {
        }
      }
      std::this_thread::sleep_until(next);
    }
  });

  std::vector<double> phase_start;
  std::vector<bench::process_sample> cpu_before;
  double cpu_from = 0;
  const double fair_skip = std::min(2.0, o.both_s / 3); // let the cluster settle into fair share
  for (const auto& p : phases) {
    phase_start.push_back(since());
    std::optional<bench::load_result> rx, ry;
    std::thread tx([&] {
      if (p.x.kind != load_shape::none)
        if (auto r = bench::run_load(load_for(o, app->port, "/x", p.x, p.seconds)))
          rx = std::move(*r);
    });
    std::thread ty([&] {
      if (p.y.kind != load_shape::none)
        if (auto r = bench::run_load(load_for(o, app->port, "/y", p.y, p.seconds)))
          ry = std::move(*r);
    });
    if (std::string(p.name) == "both") {
      std::this_thread::sleep_for(std::chrono::duration<double>(fair_skip));
      cpu_from = since();
      cpu_before = bench::sample_tree(app->process->pid());
    }
    tx.join();
    ty.join();
    const std::string name = p.name;
    if (name == "surge" && rx)
      res.surge_p99_ms = rx->latency_ns.percentile(0.99) / 1e6;
    if (name == "both" && rx && ry) {
      res.rps_x = rx->requests_per_second();
      res.rps_y = ry->requests_per_second();
      for (const auto& d : bench::difference(bench::sample_tree(app->process->pid()), cpu_before)) {
        if (d.role != "instance")
          continue;
        (d.function == "x" ? res.cpu_x : res.cpu_y) += d.cpu_seconds;
      }
    }
  }
  const double end = since();
  stop = true;
  sampler.join();
  app->process->stop(SIGTERM, 10s);

  // Read the timeline.
  auto last_before = [&](double t) -> const sample* {
    const sample* s = nullptr;
    for (const auto& x : samples)
      if (x.t <= t)
        s = &x;
    return s;
  };
  const double surge = phase_start[2], both = phase_start[3];
  if (auto* w = last_before(phase_start[1])) // end of warm
    res.warm_capacity = w->x.capacity;
  const sample* l = last_before(surge);
  if (l) {
    res.lull_capacity = l->x.capacity;
    res.lull_instances = l->x.ready;
  }
  for (const auto& s : samples) {
    if (s.t < surge || s.t >= both)
      continue;
    if (res.first_increase_ms < 0 && l && s.x.capacity > l->x.capacity + 1e-6)
      res.first_increase_ms = (s.t - surge) * 1e3;
    if (res.regained_ms < 0 && s.x.capacity >= res.warm_capacity - 1e-6)
      res.regained_ms = (s.t - surge) * 1e3;
  }
  unsigned n = 0;
  for (const auto& s : samples)
    if (s.t >= cpu_from && s.t <= end) {
      res.alloc_x += s.x.capacity * cpu;
      res.alloc_y += s.y.capacity * cpu;
      ++n;
    }
  if (n) {
    res.alloc_x /= n;
    res.alloc_y /= n;
  }
  res.ok = !samples.empty();
  // The timeline, for a reader who wants to see it (CSV next to the logs).
  std::ofstream csv(dir / (variant + "-" + std::to_string(round) + ".timeline.csv"));
  csv << "t_s,phase,x_ready,x_starting,x_capacity,x_cpu_fraction,y_ready,y_capacity\n";
  for (const auto& s : samples) {
    size_t p = 0;
    while (p + 1 < phase_start.size() && s.t >= phase_start[p + 1])
      ++p;
    csv << s.t << ',' << phases[p].name << ',' << s.x.ready << ',' << s.x.starting << ','
        << s.x.capacity << ',' << s.x.cpu_fraction << ',' << s.y.ready << ',' << s.y.capacity << '\n';
  }
  return res;
}

void setup_lass(const options& o, const fs::path& dir) {
  const std::vector<std::string> variants{"lass", "lass-terminate", "kpa"};
  std::map<std::string, std::vector<lass_result>> all;
  for (unsigned r = 0; r < o.rounds; ++r)
    for (const auto& v : variants) {
      auto res = run_lass(o, dir, v, r);
      if (!res.ok) {
        std::printf("%s round %u: no samples\n", v.c_str(), r);
        continue;
      }
      std::printf("%s round %u: warm capacity %.2f, lull %.2f (%u instances), first increase "
                  "%.0f ms, regained %.0f ms, surge p99 %.0f ms | both: CPU s x %.2f y %.2f "
                  "(Jain %.3f), allocated cores x %.2f y %.2f, req/s x %.0f y %.0f\n",
                  v.c_str(), r, res.warm_capacity, res.lull_capacity, res.lull_instances,
                  res.first_increase_ms, res.regained_ms, res.surge_p99_ms, res.cpu_x, res.cpu_y,
                  res.jain(), res.alloc_x, res.alloc_y, res.rps_x, res.rps_y);
      std::fflush(stdout);
      all[v].push_back(res);
    }
  std::printf("\nLaSS live: %u round(s), median (min-max); burn %u us per request, decisions every "
              "%s, /status sampled every %u ms\n\n",
              o.rounds, o.burn_us, o.interval.c_str(), o.sample_ms);
  std::printf("| variant | x capacity warm / lull (instances) | onset -> first capacity increase, ms "
              "| onset -> warm capacity regained, ms | x p99 in surge, ms | both overloaded: "
              "Jain's index of CPU s (x, y) | x : y CPU | x : y req/s |\n"
              "|---|---|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& v : variants) {
    const auto& rs = all[v];
    std::vector<double> wc, lc, fi, rg, p99, j, cr, rr;
    for (const auto& r : rs) {
      wc.push_back(r.warm_capacity);
      lc.push_back(r.lull_capacity);
      if (r.first_increase_ms >= 0)
        fi.push_back(r.first_increase_ms);
      if (r.regained_ms >= 0)
        rg.push_back(r.regained_ms);
      p99.push_back(r.surge_p99_ms);
      j.push_back(r.jain());
      if (r.cpu_y > 0)
        cr.push_back(r.cpu_x / r.cpu_y);
      if (r.rps_y > 0)
        rr.push_back(r.rps_x / r.rps_y);
    }
    std::printf("| %s | %s / %s | %s | %s%s | %s | %s | %s | %s |\n", v.c_str(),
                range(wc, "%.2f").c_str(), range(lc, "%.2f").c_str(), range(fi).c_str(),
                range(rg).c_str(),
                rg.size() < rs.size() ? (" (not regained in " + std::to_string(rs.size() - rg.size()) +
                                         " round(s))").c_str()
                                      : "",
                range(p99).c_str(), range(j, "%.3f").c_str(), range(cr, "%.2f").c_str(),
                range(rr, "%.2f").c_str());
  }
  std::fflush(stdout);
}

// -- setup mu --------------------------------------------------------------------------------------

// k instances per node, each of size 1/k core: node a's share its core, node b's are each held
// to half of their share (0.5/k cores): node b is half as fast.
std::string mu_app(const std::string& balancer, unsigned k) {
  const std::string size = std::to_string(1.0 / k), limit = std::to_string(0.5 / k),
                    n = std::to_string(2 * k);
  return "app: live-lb\ntransport: tcp\nrouting: direct\nlibraries: [" SPRY_BURN_LIBRARY
         "]\ngateway: {listen: '127.0.0.1:0'}\n"
         "policies: { load_balancer: " + balancer + " }\n"
         "nodes:\n  - { name: a, cpus: \"0\" }\n"
         "  - { name: b, cpus: \"1\", instance_cpu_limit: " + limit + " }\n"
         "functions:\n  - { name: w, handler: bench.burn, cpu: " + size + ", min_instances: " + n +
         ", max_instances: " + n + " }\n"
         "chains:\n  - { name: w, http: { path: /w }, functions: [w], timeout: 20s,\n"
         "      pool: { buffers: 1024, buffer_size: 4KiB } }\n";
}

struct mu_result {
  bool ok = false;
  double p50_ms = 0, p99_ms = 0, rps = 0, slow_share = 0;
  uint64_t errors = 0;
};

mu_result run_mu(const options& o, const fs::path& dir, const std::string& balancer, unsigned round,
                 double rate) {
  mu_result res;
  auto app = start_app(dir, balancer + "-" + std::to_string(round), mu_app(balancer, o.per_node));
  if (!app)
    return res;
  // Every instance ready, and those on node b held to their limit, before any load.
  std::vector<std::string> slow;
  for (int i = 0; i < 200; ++i) {
    slow.clear();
    unsigned ready = 0, limited = 0;
    if (auto s = status_of(app->port))
      for (const auto& inst : (*s)["functions"][0]["instances"]) {
        ready += inst.value("state", "") == "ready";
        if (inst.value("node", "") == "b") {
          slow.push_back(std::to_string(inst.value("endpoint", 0)));
          limited += inst.value("cpu_limit_cores", 0.0) > 0;
        }
      }
    if (ready == 2 * o.per_node && limited == o.per_node && slow.size() == o.per_node)
      break;
    slow.clear();
    std::this_thread::sleep_for(50ms);
  }
  if (slow.empty()) {
    std::fprintf(stderr, "live_policy_bench: %s: node b's instances never got their CPU limit\n",
                 balancer.c_str());
    app->process->stop(SIGTERM, 10s);
    return res;
  }
  if (rate <= 0) { // calibration: what the setup serves when saturated, on this machine, now
    bench::load_options lo;
    lo.port = app->port;
    lo.path = "/w";
    lo.body = std::to_string(o.burn_us);
    lo.connections = 4 * o.per_node; // closed loop: every instance always has a request waiting
    lo.warmup = 500ms;
    lo.duration = 3s;
    auto r = bench::run_load(lo);
    app->process->stop(SIGTERM, 10s);
    res.ok = r && r->ok() > 0;
    res.rps = r ? r->requests_per_second() : 0;
    return res;
  }
  auto completed = [&](const std::string& endpoint) {
    auto m = bench::http_get(app->port, "/metrics");
    std::smatch sm;
    const std::regex re("spry_instance_completed_total\\{function=\"w\",instance=\"" + endpoint +
                        "\",transport=\"tcp\"\\} ([0-9.e+]+)");
    return std::regex_search(m.body, sm, re) ? std::stod(sm[1]) : 0.0;
  };
  auto total_completed = [&] {
    auto m = bench::http_get(app->port, "/metrics");
    double sum = 0;
    const std::regex re("spry_instance_completed_total\\{function=\"w\"[^}]*\\} ([0-9.e+]+)");
    for (auto it = std::sregex_iterator(m.body.begin(), m.body.end(), re); it != std::sregex_iterator(); ++it)
      sum += std::stod((*it)[1]);
    return sum;
  };
  auto slow_completed = [&] {
    double sum = 0;
    for (const auto& e : slow)
      sum += completed(e);
    return sum;
  };
  const double slow0 = slow_completed(), all0 = total_completed();
  bench::load_options lo;
  lo.port = app->port;
  lo.path = "/w";
  lo.body = std::to_string(o.burn_us);
  lo.mode = bench::load_mode::open;
  lo.rate = rate;
  lo.connections = 256;
  lo.warmup = 1s;
  lo.duration = std::chrono::milliseconds(static_cast<long>(o.mu_seconds * 1000));
  lo.drain = 10s;
  lo.seed = round + 1; // the same arrivals for every balancer of a round
  auto r = bench::run_load(lo);
  const double slow_done = slow_completed() - slow0, all_done = total_completed() - all0;
  app->process->stop(SIGTERM, 10s);
  if (!r)
    return res;
  res.ok = r->ok() > 0;
  res.p50_ms = r->latency_ns.percentile(0.5) / 1e6;
  res.p99_ms = r->latency_ns.percentile(0.99) / 1e6;
  res.rps = r->requests_per_second();
  res.errors = r->errors();
  res.slow_share = all_done > 0 ? slow_done / all_done : 0;
  return res;
}

void setup_mu(const options& o, const fs::path& dir) {
  const std::vector<std::string> balancers{"least_connections", "power_of_two_choices", "mu"};
  std::map<std::string, std::vector<mu_result>> all;
  std::vector<double> vs_lc, vs_p2c; // per round: mu's p99 change against each
  std::vector<double> rates;
  for (unsigned r = 0; r < o.rounds; ++r) {
    // The machine is shared: the offered load is a fraction of what the setup serves saturated
    // right now (least_connections, closed loop), the same rate for every balancer of the round.
    const double capacity = run_mu(o, dir, "least_connections", r, 0).rps;
    const double nominal = 1.5 / (o.burn_us / 1e6);
    const double rate = o.utilization * (capacity > 0 ? std::min(capacity, nominal) : nominal);
    rates.push_back(rate);
    std::printf("round %u: saturated throughput %.0f req/s (nominal %.0f), offered %.0f req/s\n", r,
                capacity, nominal, rate);
    std::map<std::string, mu_result> round;
    for (const auto& b : balancers) {
      auto res = run_mu(o, dir, b, r, rate);
      std::printf("%s round %u: p50 %.1f ms, p99 %.1f ms, %.0f req/s, %llu errors, slow node "
                  "served %.0f %%\n",
                  b.c_str(), r, res.p50_ms, res.p99_ms, res.rps,
                  static_cast<unsigned long long>(res.errors), res.slow_share * 100);
      std::fflush(stdout);
      if (res.ok) {
        all[b].push_back(res);
        round[b] = res;
      }
    }
    if (round.count("mu") && round.count("least_connections"))
      vs_lc.push_back((round["mu"].p99_ms / round["least_connections"].p99_ms - 1) * 100);
    if (round.count("mu") && round.count("power_of_two_choices"))
      vs_p2c.push_back((round["mu"].p99_ms / round["power_of_two_choices"].p99_ms - 1) * 100);
  }
  std::printf("\nMu's load balancer live: %u instances per node, node b's held to half their "
              "share of its core by cgroup; open loop at %s req/s (%.0f %% of the saturated "
              "throughput measured at the start of each round), %u us per request, %u round(s) of "
              "%.0f s, median (min-max)\n\n",
              o.per_node, range(rates).c_str(), o.utilization * 100, o.burn_us, o.rounds,
              o.mu_seconds);
  std::printf("| load balancer | p50 ms | p99 ms | slow node's share of requests %% | errors |\n"
              "|---|---:|---:|---:|---:|\n");
  for (const auto& b : balancers) {
    std::vector<double> p50, p99, share, err;
    for (const auto& r : all[b]) {
      p50.push_back(r.p50_ms);
      p99.push_back(r.p99_ms);
      share.push_back(r.slow_share * 100);
      err.push_back(static_cast<double>(r.errors));
    }
    std::printf("| %s | %s | %s | %s | %s |\n", b.c_str(), range(p50, "%.1f").c_str(),
                range(p99, "%.1f").c_str(), range(share).c_str(), range(err).c_str());
  }
  std::printf("\nmu's p99 vs least_connections, same round: %s %%; vs power_of_two_choices: %s %% "
              "(published: -62 %% vs Knative's)\n",
              range(vs_lc, "%+.0f").c_str(), range(vs_p2c, "%+.0f").c_str());
  std::fflush(stdout);
}

bool cgroups_writable(const fs::path& dir) {
  auto app = start_app(dir, "probe", mu_app("least_connections", 1));
  if (!app)
    return false;
  auto s = status_of(app->port);
  app->process->stop(SIGTERM, 10s);
  const std::string limits = s ? s->value("cpu_limits", "") : "";
  if (limits.rfind("cgroup", 0) != 0) {
    std::printf("live_policy_bench did not run: instance CPU limits are not applied here (%s)\n",
                limits.c_str());
    return false;
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App cli{"live_policy_bench: LaSS deflation/re-inflation and fair share, and Mu's load "
               "balancer on heterogeneous nodes, on the live control plane"};
  options o;
  cli.add_option("--rounds,-r", o.rounds, "Rounds (each runs every variant)")->capture_default_str();
  cli.add_option("--setups", o.setups, "lass, mu")->capture_default_str();
  cli.add_option("--burn-us", o.burn_us, "CPU time per request, microseconds")->capture_default_str();
  cli.add_option("--users", o.users, "lass: virtual users of an overloaded function")->capture_default_str();
  cli.add_option("--light-rps", o.light_rps, "lass: requests/s of a light function")->capture_default_str();
  cli.add_option("--phase", o.phase_s, "lass: seconds of warm, lull and surge")->capture_default_str();
  cli.add_option("--both", o.both_s, "lass: seconds with both functions overloaded")->capture_default_str();
  cli.add_option("--sample-ms", o.sample_ms, "lass: /status sampling period")->capture_default_str();
  cli.add_option("--interval", o.interval, "lass: autoscaler decision interval")->capture_default_str();
  cli.add_option("--utilization", o.utilization, "mu: offered load / capacity")->capture_default_str();
  cli.add_option("--mu-seconds", o.mu_seconds, "mu: measured seconds per balancer")->capture_default_str();
  cli.add_option("--per-node", o.per_node, "mu: instances per node")->capture_default_str();
  CLI11_PARSE(cli, argc, argv);

  const auto dir = fs::temp_directory_path() / ("spry-live-policy-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::printf("live_policy_bench: logs and timelines in %s\n", dir.c_str());
  if (!cgroups_writable(dir))
    return 0;
  for (const auto& s : o.setups) {
    if (s == "lass")
      setup_lass(o, dir);
    else if (s == "mu")
      setup_mu(o, dir);
    else
      std::fprintf(stderr, "live_policy_bench: unknown setup '%s' (lass, mu)\n", s.c_str());
  }
  return 0;
}
