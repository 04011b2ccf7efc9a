// cold_start_bench: what scale-to-zero costs and what keeping warm costs, per transport and per
// way of starting an instance process (`instances.start`: exec, or fork from a template), in one
// run. For each setup a `spry run` with one function (min_instances 0, KPA with a short grace
// period) is asked, again and again, for a request after it scaled to zero: the first request's
// latency from zero, and the process-to-ready time the control plane measured (spawn to ready).
// Then the same with a 4-function chain, every function at zero: with whole-chain warm-up its
// first request should cost about one function's cold start, not four (the ratio column).
// Then the one-function app kept warm (min_instances 1) is left idle: CPU seconds of the gateway
// and its instances over the quiet period, with the metrics agent and the autoscaler running.
// Figures are compared as ratios within one run, never against fixed numbers.
#include "bench/load/child_process.hpp"
#include "bench/load/http_load.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace spry;

namespace {

std::string exe_dir() { return fs::read_symlink("/proc/self/exe").parent_path().string(); }

// One request on a fresh connection; latency in microseconds, or -1.
double one_request(uint16_t port) {
  bench::load_options lo;
  lo.port = port;
  lo.path = "/up";
  lo.body = "cold";
  lo.connections = 1;
  lo.max_requests = 1;
  lo.warmup = std::chrono::milliseconds(0);
  lo.duration = std::chrono::seconds(30);
  auto r = bench::run_load(lo);
  if (!r || r->ok() != 1)
    return -1;
  return r->latency_ns.percentile(1.0) / 1e3;
}

double pct(std::vector<double> v, double q) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

// `instances.spare` of the apps (--spare); < 0: the app's default.
int spare = -1;

// `length` functions in one chain (/up), each at `min_instances`.
std::string app(const std::string& transport, const std::string& start, const std::string& library,
                unsigned min_instances, unsigned length = 1, const std::string& interval = "100ms") {
  std::string functions, chain;
  for (unsigned i = 0; i < length; ++i) {
    const std::string name = "upper" + std::to_string(i);
    functions += "  - { name: " + name + ", handler: hello.uppercase, min_instances: " +
                 std::to_string(min_instances) + ", max_instances: 1 }\n";
    chain += (i ? ", " : "") + name;
  }
  return "app: cold\ntransport: " + transport + "\nlibraries: [" + library +
         "]\ngateway: {listen: '127.0.0.1:0'}\ninstances: {start: " + start +
         (spare >= 0 ? ", spare: " + std::to_string(spare) : std::string()) + "}\n"
         "policies:\n  autoscaler: { name: kpa, interval: " + interval + ", params: { stable_window_s: 1,"
         " scale_to_zero_grace_s: 0.3 } }\n"
         "functions:\n" + functions +
         "chains:\n  - { name: up, http: { path: /up }, functions: [" + chain + "] }\n";
}

// Children of `gateway` that are instances (not the fork template nor its spares, which stay).
size_t instance_processes(pid_t gateway) {
  size_t n = 0;
  for (pid_t c : bench::children_of(gateway)) {
    std::string comm;
    std::getline(std::ifstream("/proc/" + std::to_string(c) + "/comm"), comm);
    n += comm != "spry-template" && comm != "spry-spare";
  }
  return n;
}

struct from_zero {
  std::vector<double> first; ///< first request's latency, us
  std::vector<double> cold;  ///< process-to-ready (the control plane's "cold start"), us
  std::vector<double> warm;  ///< requests right after, us
  bool started = false;
};

// Starts `yaml`, then `rounds` times: waits for the app to be at zero, sends one request, then
// `warm_requests` more.
from_zero measure(const std::string& spry, const fs::path& dir, const std::string& name,
                  const std::string& yaml, bool processes, unsigned rounds, int warm_requests) {
  from_zero out;
  const auto file = (dir / (name + ".yaml")).string();
  const auto log_file = (dir / (name + ".log")).string();
  std::ofstream(file) << yaml;
  bench::child_process p({spry, "run", file, "--log-level", "info"}, log_file);
  const auto listening = p.wait_for_http_port(std::chrono::seconds(30));
  if (!listening)
    return out;
  out.started = true;
  const uint16_t port = *listening;
  for (unsigned i = 0; i < rounds; ++i) {
    // Scaled to zero again: KPA's grace period, then the drain (no instance process left).
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    for (int k = 0; processes && k < 100 && instance_processes(p.pid()) > 0; ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    out.first.push_back(one_request(port));
    for (int k = 0; k < warm_requests; ++k)
      out.warm.push_back(one_request(port));
  }
  // Process-to-ready as the control plane logged it ("ready after a X ms cold start").
  p.stop(SIGTERM, std::chrono::seconds(10));
  std::ifstream log(log_file);
  std::regex cold_re("ready after a ([0-9.]+) ms cold start");
  std::smatch m;
  for (std::string l; std::getline(log, l);)
    if (std::regex_search(l, m, cold_re))
      out.cold.push_back(std::stod(m[1]) * 1e3);
  return out;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App cli{"cold_start_bench: first request from zero vs warm, cold start time and idle CPU "
               "of a warm deployment, per transport"};
  std::string spry = exe_dir() + "/../spry";
  std::string library = exe_dir() + "/../examples/hello/libspry_hello.so";
  unsigned rounds = 10;
  double idle_s = 10;
  std::vector<std::string> transports{"local", "tcp", "shm-skmsg"};
  cli.add_option("--spry", spry, "The spry binary")->capture_default_str();
  cli.add_option("--library", library, "The hello function library")->capture_default_str();
  cli.add_option("--rounds,-n", rounds, "Cold starts per transport")->capture_default_str();
  cli.add_option("--idle", idle_s, "Quiet period for idle CPU, seconds (0: skip)")->capture_default_str();
  cli.add_option("--transports", transports, "Transports to compare")->capture_default_str();
  std::string idle_interval = "2s";
  cli.add_option("--idle-interval", idle_interval,
                 "Autoscaler interval of the warm deployment (the default interval)")
    ->capture_default_str();
  std::vector<std::string> starts{"exec", "fork"};
  cli.add_option("--start", starts, "instances.start modes to compare (exec, fork)")
    ->capture_default_str();
  cli.add_option("--spare", spare,
                 "instances.spare of the apps (start fork: processes forked ahead); default: the "
                 "app's default")
    ->check(CLI::Range(0, 64));
  bool keep_logs = false;
  cli.add_flag("--keep-logs", keep_logs, "Keep the apps and their gateway logs (the directory is "
                                         "printed at the end)");
  CLI11_PARSE(cli, argc, argv);

  const auto dir = fs::temp_directory_path() / ("spry-cold-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::printf("| transport | start | process-to-ready p50 / p99 | first request from zero p50 / "
              "p99 (1 function) | warm request p50 | first request of a 4-function chain from "
              "zero p50 / p99 | 4-chain / 1-function first request (p50) |\n"
              "|---|---|---:|---:|---:|---:|---:|\n");
  std::vector<std::pair<std::string, double>> idle_rows;
  for (const auto& t : transports) {
    if (t == "shm-skmsg" && geteuid() != 0) {
      std::printf("| %s | | skipped: needs root | | | | |\n", t.c_str());
      continue;
    }
    const bool processes = t != "local";
    for (const auto& start : starts) {
      if (!processes && start != starts.front())
        continue; // local: instances are actors, there is no process to start
      const std::string tag = t + "-" + start;
      auto one = measure(spry, dir, tag + "-1", app(t, start, library, 0), processes, rounds, 5);
      auto four = measure(spry, dir, tag + "-4", app(t, start, library, 0, 4), processes, rounds, 0);
      if (!one.started || !four.started) {
        std::printf("| %s | %s | did not start | | | | |\n", t.c_str(), start.c_str());
        continue;
      }
      const double f1 = pct(one.first, 0.5), f4 = pct(four.first, 0.5);
      std::printf("| %s | %s | %.0f / %.0f us | %.0f / %.0f us | %.0f us | %.0f / %.0f us | "
                  "%.2fx |\n",
                  t.c_str(), processes ? start.c_str() : "-", pct(one.cold, 0.5),
                  pct(one.cold, 0.99), f1, pct(one.first, 0.99), pct(one.warm, 0.5), f4,
                  pct(four.first, 0.99), f1 > 0 ? f4 / f1 : 0.0);
      std::fflush(stdout);
    }
    if (idle_s <= 0)
      continue;
    // Warm and idle.
    const auto file = (dir / (t + "-warm.yaml")).string();
    std::ofstream(file) << app(t, starts.front(), library, 1, 1, idle_interval);
    bench::child_process w({spry, "run", file, "--log-level", "warn"});
    w.wait_for_line("listening on http://", std::chrono::seconds(30));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double cpu0 = bench::tree_cpu_seconds(w.pid());
    std::this_thread::sleep_for(std::chrono::duration<double>(idle_s));
    idle_rows.emplace_back(t, bench::tree_cpu_seconds(w.pid()) - cpu0);
    w.stop(SIGTERM, std::chrono::seconds(10));
  }
  if (!idle_rows.empty()) {
    std::printf("\n| transport | idle CPU, warm (min_instances 1), %.0f s, decisions every %s |\n"
                "|---|---:|\n",
                idle_s, idle_interval.c_str());
    for (const auto& [t, cpu] : idle_rows)
      std::printf("| %s | %.3f CPU s |\n", t.c_str(), cpu);
  }
  if (keep_logs)
    std::printf("\nlogs kept in %s\n", dir.c_str());
  else
    fs::remove_all(dir);
  return 0;
}
