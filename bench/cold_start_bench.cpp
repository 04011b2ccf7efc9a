// cold_start_bench: what scale-to-zero costs and what keeping warm costs, per transport, in one
// run. For each transport a `spry run` with one function (min_instances 0, KPA with a short
// grace period) is asked, again and again, for a request after it scaled to zero: the first
// request's latency from zero, the cold start the control plane measured (process start to
// ready), and warm request latency for comparison. Then the same app kept warm
// (min_instances 1) is left idle: CPU seconds of the gateway and its instances over the quiet
// period, with the metrics agent and the autoscaler running.
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

std::string app(const std::string& transport, const std::string& library, unsigned min_instances,
                const std::string& interval = "100ms") {
  return "app: cold\ntransport: " + transport + "\nlibraries: [" + library +
         "]\ngateway: {listen: '127.0.0.1:0'}\n"
         "policies:\n  autoscaler: { name: kpa, interval: " + interval + ", params: { stable_window_s: 1,"
         " scale_to_zero_grace_s: 0.3 } }\n"
         "functions:\n  - { name: upper, handler: hello.uppercase, min_instances: " +
         std::to_string(min_instances) + ", max_instances: 1 }\n"
         "chains:\n  - { name: up, http: { path: /up }, functions: [upper] }\n";
}

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
  cli.add_option("--idle", idle_s, "Quiet period for idle CPU, seconds")->capture_default_str();
  cli.add_option("--transports", transports, "Transports to compare")->capture_default_str();
  std::string idle_interval = "2s";
  cli.add_option("--idle-interval", idle_interval,
                 "Autoscaler interval of the warm deployment (the default interval)")
    ->capture_default_str();
  CLI11_PARSE(cli, argc, argv);

  const auto dir = fs::temp_directory_path() / ("spry-cold-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::printf("| transport | first request from zero p50 / p99 | cold start p50 / p99 (ready) | "
              "warm request p50 | idle CPU, warm, %.0f s, decisions every %s |\n|---|---:|---:|---:|---:|\n",
              idle_s, idle_interval.c_str());
  for (const auto& t : transports) {
    if (t == "shm-skmsg" && geteuid() != 0) {
      std::printf("| %s | skipped: needs root | | | |\n", t.c_str());
      continue;
    }
    const auto file = (dir / (t + ".yaml")).string();
    std::ofstream(file) << app(t, library, 0);
    bench::child_process p({spry, "run", file, "--log-level", "info"},
                           (dir / (t + ".log")).string());
    auto line = p.wait_for_line("listening on http://", std::chrono::seconds(30));
    std::smatch m;
    if (!line || !std::regex_search(*line, m, std::regex("127\\.0\\.0\\.1:(\\d+)"))) {
      std::printf("| %s | did not start | | | |\n", t.c_str());
      continue;
    }
    const auto port = static_cast<uint16_t>(std::stoul(m[1]));
    std::vector<double> first, warm;
    for (unsigned i = 0; i < rounds; ++i) {
      // Scaled to zero again: KPA's grace period, then the drain (no process left).
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      if (t != "local" && !bench::children_of(p.pid()).empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      }
      first.push_back(one_request(port));
      for (int k = 0; k < 5; ++k)
        warm.push_back(one_request(port));
    }
    // Cold starts as the control plane logged them ("ready after a X ms cold start").
    std::vector<double> cold;
    p.stop(SIGTERM, std::chrono::seconds(10));
    std::ifstream log(dir / (t + ".log"));
    std::regex cold_re("ready after a ([0-9.]+) ms cold start");
    for (std::string l; std::getline(log, l);)
      if (std::regex_search(l, m, cold_re))
        cold.push_back(std::stod(m[1]) * 1e3);

    // Warm and idle.
    std::ofstream(file) << app(t, library, 1, idle_interval);
    bench::child_process w({spry, "run", file, "--log-level", "warn"});
    w.wait_for_line("listening on http://", std::chrono::seconds(30));
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double cpu0 = bench::tree_cpu_seconds(w.pid());
    std::this_thread::sleep_for(std::chrono::duration<double>(idle_s));
    const double cpu = bench::tree_cpu_seconds(w.pid()) - cpu0;
    w.stop(SIGTERM, std::chrono::seconds(10));
    std::printf("| %s | %.0f / %.0f us | %.0f / %.0f us | %.0f us | %.3f CPU s |\n", t.c_str(),
                pct(first, 0.5), pct(first, 0.99), pct(cold, 0.5), pct(cold, 0.99), pct(warm, 0.5),
                cpu);
    std::fflush(stdout);
  }
  fs::remove_all(dir);
  return 0;
}
