// soak_bench: the hello chain at saturation for a bounded time on each transport, one after the
// other, reporting what a leak would show: resident memory (the whole process tree), open file
// descriptors (the whole tree) and buffers of the chain's pool in use, at the start (after a
// warm-up), every `--interval` while loaded, and at the end after the load stopped. Errors and
// statuses are counted too: a soak run that answers anything but 200 is reported as such.
//
//   build/bench/soak_bench -d 60s                  # every transport this machine can run
//   build/bench/soak_bench -d 10m --only shm-skmsg
//
// Growth is reported as end minus start; a steady leak shows as a slope over the interval rows.
#include "bench/driver/setups.hpp"
#include "bench/load/child_process.hpp"
#include "bench/load/http_load.hpp"
#include "bench/load/proc_stats.hpp"
#include "core/config.hpp"
#include "gateway/admin_client.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace spry;

namespace {

struct sample {
  double seconds = 0;
  size_t processes = 0;
  double rss_mib = 0;
  size_t fds = 0;
  double pool_in_use = -1;
};

double rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stod(line.substr(6));
  return 0;
}

size_t fd_count(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

double pool_in_use(uint16_t port, const std::string& chain) {
  auto r = gateway::admin_request("127.0.0.1:" + std::to_string(port), boost::beast::http::verb::get,
                                  "/metrics", std::chrono::seconds(5));
  if (r.result != gateway::admin_response::outcome::answered || r.status != 200)
    return -1;
  const std::string key = "spry_pool_buffers{chain=\"" + chain + "\",state=\"in_use\"} ";
  const auto at = r.body.find(key);
  return at == std::string::npos ? -1 : std::stod(r.body.substr(at + key.size()));
}

sample take(pid_t root, uint16_t port, double t) {
  sample s;
  s.seconds = t;
  for (pid_t p : bench::process_tree(root)) {
    ++s.processes;
    s.rss_mib += rss_kib(p) / 1024;
    s.fds += fd_count(p);
  }
  s.pool_in_use = pool_in_use(port, "hello");
  return s;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App cli{"soak_bench: the hello chain at saturation on each transport; RSS, fds and pool "
               "occupancy at start, while loaded and at the end"};
  const std::string exe_dir = fs::read_symlink("/proc/self/exe").parent_path().string();
  std::string spry = exe_dir + "/../spry";
  std::string app = exe_dir + "/../examples/hello/hello.yaml";
  std::string duration = "60s", interval = "10s";
  unsigned connections = 32;
  std::vector<std::string> only;
  cli.add_option("--spry", spry, "The spry binary")->capture_default_str();
  cli.add_option("--app", app, "The hello app file")->capture_default_str();
  cli.add_option("--duration,-d", duration, "Loaded time per transport")->capture_default_str();
  cli.add_option("--interval,-i", interval, "Time between samples while loaded")->capture_default_str();
  cli.add_option("--connections,-c", connections, "Closed-loop connections")->capture_default_str();
  cli.add_option("--only", only, "Run only these setups (local, shm-skmsg, shm-dpdk, tcp, ...)");
  CLI11_PARSE(cli, argc, argv);
  auto d = core::parse_duration_ms(duration);
  auto iv = core::parse_duration_ms(interval);
  if (!d || !iv || *iv == 0) {
    std::cerr << "soak_bench: " << (!d ? d.err().message : !iv ? iv.err().message : "interval must be > 0")
              << "\n";
    return 2;
  }
  for (const auto& f : {spry, app})
    if (!fs::exists(f)) {
      std::cerr << "soak_bench: " << f << " not found (build first, or pass --spry/--app)\n";
      return 2;
    }
  if (only.empty())
    only = {"local", "shm-skmsg", "shm-dpdk", "tcp"};
  char tmpl[] = "/tmp/spry-soak-XXXXXX";
  const std::string dir = mkdtemp(tmpl);

  struct row {
    std::string name;
    std::vector<sample> samples; // start, while loaded..., end
    uint64_t ok = 0, errors = 0;
    double rps = 0;
  };
  std::vector<row> rows;
  bool failed = false;
  for (const auto& name : only) {
    auto s = bench::setup_named(name);
    if (!s) {
      std::cerr << "soak_bench: " << s.err().message << "\n";
      return 2;
    }
    if (auto why = bench::unavailable_reason(*s); !why.empty()) {
      std::printf("%-12s skipped: %s\n", name.c_str(), why.c_str());
      continue;
    }
    auto file = bench::write_setup_app(app, *s, dir);
    if (!file) {
      std::cerr << "soak_bench: " << file.err().message << "\n";
      return 2;
    }
    bench::child_process p({spry, "run", *file, "--log-level", "warn"}, dir + "/" + name + ".stderr");
    auto line = p.wait_for_line("listening on http://", std::chrono::seconds(60));
    std::smatch m;
    if (!line || !std::regex_search(*line, m, std::regex("127\\.0\\.0\\.1:(\\d+)"))) {
      std::cerr << "soak_bench: " << name << " did not start:\n" << bench::read_file(dir + "/" + name + ".stderr");
      failed = true;
      continue;
    }
    const uint16_t port = static_cast<uint16_t>(std::stoul(m[1]));
    bench::load_options o;
    o.port = port;
    o.path = "/hello";
    o.body = "hello spry, hello edge";
    o.connections = connections;
    o.warmup = std::chrono::milliseconds(0);
    o.duration = std::chrono::milliseconds(2000);
    bench::run_load(o); // warm-up: instances, connections, caches
    row r{name, {}, 0, 0, 0};
    const auto t0 = std::chrono::steady_clock::now();
    const auto since = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    r.samples.push_back(take(p.pid(), port, 0));
    double loaded_s = 0;
    for (uint64_t left = *d; left > 0; left -= std::min(left, *iv)) {
      o.duration = std::chrono::milliseconds(std::min(left, *iv));
      auto res = bench::run_load(o);
      if (!res) {
        std::cerr << "soak_bench: " << res.err().message << "\n";
        return 2;
      }
      r.ok += res->ok();
      r.errors += res->errors();
      loaded_s += res->seconds;
      r.samples.push_back(take(p.pid(), port, since()));
      std::fprintf(stderr, "  %s: %.0f s, %llu ok, %llu errors\n", name.c_str(), since(),
                   static_cast<unsigned long long>(r.ok), static_cast<unsigned long long>(r.errors));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500)); // in-flight requests finish
    r.samples.push_back(take(p.pid(), port, since()));
    r.rps = loaded_s > 0 ? r.ok / loaded_s : 0;
    p.stop(SIGTERM, std::chrono::seconds(10));
    rows.push_back(std::move(r));
  }
  fs::remove_all(dir);

  std::printf("\nsoak_bench: hello chain, %u connections, %s loaded per transport, sampled every %s\n",
              connections, duration.c_str(), interval.c_str());
  std::printf("%-12s %10s %9s %8s %9s %9s %9s %7s %7s %7s %9s %9s\n", "setup", "requests", "req/s",
              "errors", "RSS start", "RSS end", "RSS +MiB", "fds st", "fds end", "fds +", "pool st",
              "pool end");
  for (const auto& r : rows) {
    const auto& a = r.samples.front();
    const auto& b = r.samples.back();
    std::printf("%-12s %10llu %9.0f %8llu %9.1f %9.1f %9.1f %7zu %7zu %7ld %9.0f %9.0f\n",
                r.name.c_str(), static_cast<unsigned long long>(r.ok), r.rps,
                static_cast<unsigned long long>(r.errors), a.rss_mib, b.rss_mib, b.rss_mib - a.rss_mib,
                a.fds, b.fds, static_cast<long>(b.fds) - static_cast<long>(a.fds), a.pool_in_use,
                b.pool_in_use);
  }
  std::printf("\nafter each interval (t s: RSS MiB / fds / pool buffers in use; sampled between load slices):\n");
  for (const auto& r : rows) {
    std::printf("%-12s", r.name.c_str());
    for (const auto& s : r.samples)
      std::printf("  %.0f: %.1f/%zu/%.0f", s.seconds, s.rss_mib, s.fds, s.pool_in_use);
    std::printf("\n");
  }
  std::printf("(RSS and fds: the whole process tree, gateway + instances; pool: the chain's buffers "
              "in use, from /metrics; the end row is taken 0.5 s after the load stopped)\n");
  return failed ? 1 : 0;
}
