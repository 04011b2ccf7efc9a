#include "bench/driver/commands.hpp"

#include "bench/driver/audit.hpp"
#include "bench/driver/setup_run.hpp"
#include "bench/report/report.hpp"
#include "bench/report/sweep.hpp"
#include "core/config.hpp"
#include "transports/register.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unistd.h>

namespace spry::bench {

namespace fs = std::filesystem;

struct commands::state {
  CLI::App* bench = nullptr;
  CLI::App* audit = nullptr;
  std::string file;
  std::vector<std::string> setups;
  std::string baseline;
  std::string out;
  std::string duration, warmup, idle, think, period, mode;
  std::vector<unsigned> users; ///< more than one: a sweep (bench only)
  std::vector<unsigned> chain_lengths; ///< bench: a sweep over the first chain's length
  double spawn_rate = -1, rate = 0;
  unsigned burst = 0;
  uint64_t requests = 0;
  std::vector<std::string> env;
  std::string plot_format = "png";
  std::string log_level = "warn";
  bool no_perf = false;
  unsigned rounds = 1;
};

namespace {

void add_common(CLI::App& c, commands::state& s) {
  c.add_option("workload", s.file, "Workload file (YAML): the app, the requests, the load")
    ->required()
    ->check(CLI::ExistingFile);
  c.add_option("--setups", s.setups, "Setups to compare, in order (default: the workload's); "
                                     "local, shm-skmsg, shm-dpdk (adaptive), shm-dpdk-yield, "
                                     "shm-dpdk-spin, tcp (Knative-like), tcp-broker, tcp-direct, "
                                     "tcp-nginx; NAME@LOAD_BALANCER for a policy")
    ->delimiter(',');
  c.add_option("--duration,-d", s.duration, "Measured time per setup (e.g. 20s)");
  c.add_option("--warmup", s.warmup, "Unmeasured load before the measured time");
  c.add_option("--users,-c", s.users, "Closed-loop users (open loop, bursts: connections at most); "
                                     "bench: a list (-c 1,8,32,128,512) sweeps the setups over "
                                     "each, with one plot per setup")
    ->delimiter(',')
    ->check(CLI::Range(1u, 100000u));
  c.add_option("--env", s.env, "KEY=VALUE for the app's processes (e.g. "
                               "SPRY_SERVICE_TIME_SCALE=0.02); overrides the workload's env");
  c.add_option("--out,-o", s.out, "Output directory");
  c.add_option("--log-level", s.log_level, "Log level of the app's processes")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
}

// Command-line settings over the workload file's.
core::status_or_error apply(commands::state& s, workload& w) {
  auto dur = [](const std::string& text, const char* what) -> core::expected<std::chrono::milliseconds> {
    auto v = core::parse_duration_ms(text);
    if (!v)
      return core::make_error(std::string(what) + ": " + v.err().message);
    return std::chrono::milliseconds(*v);
  };
  if (!s.duration.empty()) {
    auto d = dur(s.duration, "--duration");
    if (!d)
      return d.err();
    w.load.duration = *d;
  }
  if (!s.warmup.empty()) {
    auto d = dur(s.warmup, "--warmup");
    if (!d)
      return d.err();
    w.load.warmup = *d;
  }
  if (!s.idle.empty()) {
    auto d = dur(s.idle, "--idle");
    if (!d)
      return d.err();
    w.idle = *d;
  }
  if (!s.period.empty()) {
    auto d = dur(s.period, "--period");
    if (!d)
      return d.err();
    w.load.period = *d;
  }
  if (!s.think.empty()) {
    const auto comma = s.think.find(',');
    auto lo = dur(s.think.substr(0, comma), "--think");
    auto hi = dur(comma == std::string::npos ? s.think : s.think.substr(comma + 1), "--think");
    if (!lo || !hi)
      return !lo ? lo.err() : hi.err();
    w.load.think_min = *lo;
    w.load.think_max = *hi;
  }
  if (!s.mode.empty())
    w.load.mode = s.mode == "open" ? load_mode::open : s.mode == "bursts" ? load_mode::bursts : load_mode::closed;
  if (!s.users.empty())
    w.load.connections = s.users.front();
  if (s.spawn_rate >= 0)
    w.load.spawn_rate = s.spawn_rate;
  if (s.rate > 0)
    w.load.rate = s.rate;
  if (s.burst)
    w.load.burst_size = s.burst;
  if (s.requests)
    w.load.max_requests = s.requests;
  if (w.load.mode == load_mode::open && !(w.load.rate > 0))
    return core::make_error("open loop needs --rate (requests per second)");
  if (w.load.mode == load_mode::bursts && (w.load.burst_size == 0 || w.load.period.count() == 0))
    return core::make_error("bursts need --period and --burst");
  for (const auto& kv : s.env) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return core::make_error("--env: expected KEY=VALUE, got '" + kv + "'");
    w.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!s.setups.empty())
    w.setups = s.setups;
  if (!s.baseline.empty())
    w.baseline = s.baseline;
  return {};
}

core::expected<std::vector<setup>> resolve(const workload& w) {
  std::vector<setup> out;
  for (const auto& name : w.setups) {
    auto s = setup_named(name);
    if (!s)
      return s.err();
    out.push_back(*s);
  }
  if (out.empty())
    return core::make_error("no setup to run");
  return out;
}

std::string app_name(const workload& w) {
  static const core::transport_registry transports = [] {
    core::transport_registry r;
    spry::transports::register_all(r);
    return r;
  }();
  auto app = core::load_app_file(w.app_file, transports);
  return app ? app->name : fs::path(w.app_file).stem().string();
}

// A progress line: redrawn in place on a terminal, one line every 5 s otherwise.
void show_progress(const std::string& setup, const load_progress& p) {
  static const bool tty = isatty(STDERR_FILENO) != 0;
  const int width = 24;
  const int done = p.total_s > 0 ? static_cast<int>(width * std::min(1.0, p.elapsed_s / p.total_s)) : width;
  if (!tty && static_cast<int>(p.elapsed_s) % 5 != 0)
    return;
  std::fprintf(stderr, "%s  %-12s [%s%s] %5.0f/%.0f s %s %7.0f req/s  %llu ok  %llu errors%s",
               tty ? "\r" : "", setup.c_str(), std::string(done, '#').c_str(),
               std::string(width - done, '.').c_str(), p.elapsed_s, p.total_s,
               p.warming_up ? "warm-up " : "measured", p.recent_rps,
               static_cast<unsigned long long>(p.ok), static_cast<unsigned long long>(p.errors),
               tty ? "   " : "\n");
  std::fflush(stderr);
}

// Runs every setup `rounds` times, alternating (a, b, a, b), so that a slow drift of the machine
// (other work, thermal) lands on every setup alike instead of on whichever ran last.
std::vector<setup_result> run_rounds(const workload& w, const std::vector<setup>& setups,
                                     const run_settings& rs, unsigned rounds) {
  std::vector<setup_result> results(setups.size());
  for (unsigned round = 0; round < std::max(1u, rounds); ++round)
    for (size_t i = 0; i < setups.size(); ++i) {
      const auto& st = setups[i];
      if (round > 0 && !results[i].ran)
        continue; // skipped once, skipped for good
      auto r = run_setup(w, st, rs);
      if (isatty(STDERR_FILENO))
        std::fprintf(stderr, "\n");
      if (r.ran)
        std::fprintf(stderr, "  %-12s %s; CPU %.0f us/request\n", st.name.c_str(),
                     r.load.summary().c_str(), r.cpu_per_request() * 1e6);
      else
        std::fprintf(stderr, "  %-12s skipped: %s\n", st.name.c_str(), r.skipped.c_str());
      if (round == 0)
        results[i] = std::move(r);
      else
        merge_round(results[i], r);
    }
  return results;
}

int run_bench(commands::state& s) {
  auto w = load_workload_file(s.file);
  if (!w) {
    std::cerr << "spry bench: " << w.err().message << "\n";
    return 2;
  }
  if (auto ok = apply(s, *w); !ok) {
    std::cerr << "spry bench: " << ok.err().message << "\n";
    return 2;
  }
  auto setups = resolve(*w);
  if (!setups) {
    std::cerr << "spry bench: " << setups.err().message << "\n";
    return 2;
  }
  const std::string out = s.out.empty() ? "bench-results" : s.out;
  run_settings rs;
  rs.spry_binary = fs::read_symlink("/proc/self/exe").string();
  rs.work_dir = (fs::path(out) / "logs").string();
  rs.log_level = s.log_level;
  rs.on_progress = show_progress;
  std::error_code ec;
  fs::create_directories(rs.work_dir, ec);
  if (ec) {
    std::cerr << "spry bench: cannot create " << rs.work_dir << ": " << ec.message() << "\n";
    return 2;
  }
  const std::string title = app_name(*w);
  std::fprintf(stderr, "spry bench: %s on %zu setup(s), %.0f s warm-up + %.0f s measured + %.0f s idle each\n",
               title.c_str(), setups->size(), w->load.warmup.count() / 1e3,
               w->load.duration.count() / 1e3, w->idle.count() / 1e3);
  report_options ro;
  ro.dir = out;
  ro.baseline = w->baseline;
  ro.plot_format = s.plot_format;
  ro.title = title;
  ro.rounds = std::max(1u, s.rounds);
  const auto any_ran = [](const std::vector<setup_result>& results) {
    for (const auto& r : results)
      if (r.ran && r.load.ok() > 0)
        return true;
    return false;
  };
  if (!s.chain_lengths.empty()) {
    if (s.users.size() > 1) {
      std::cerr << "spry bench: one sweep at a time (-c with several values, or --chain-length)\n";
      return 2;
    }
    std::vector<sweep_point> points;
    bool any = false;
    for (unsigned n : s.chain_lengths) {
      auto app = write_chain_length_app(w->app_file, n, rs.work_dir);
      if (!app) {
        std::cerr << "spry bench: " << app.err().message << "\n";
        return 2;
      }
      std::fprintf(stderr, "spry bench: a chain of %u function(s)\n", n);
      workload wn = *w;
      wn.app_file = *app;
      sweep_point p;
      p.value = n;
      p.results = run_rounds(wn, *setups, rs, s.rounds);
      report_options one = ro;
      one.dir = (fs::path(out) / ("chain" + std::to_string(n))).string();
      fs::create_directories(one.dir, ec);
      if (auto md = write_report(wn, p.results, one); !md)
        std::cerr << "spry bench: " << md.err().message << "\n";
      any = any || any_ran(p.results);
      points.push_back(std::move(p));
    }
    auto md = write_sweep(points, sweep_axis::chain_length, ro);
    if (!md) {
      std::cerr << "spry bench: " << md.err().message << "\n";
      return 1;
    }
    std::printf("%s\nspry bench: sweep.csv, sweep-*.png, sweep.md and a report per chain length "
                "(chain<N>/) in %s\n", md->c_str(), out.c_str());
    return any ? 0 : 1;
  }
  if (s.users.size() <= 1) {
    const auto results = run_rounds(*w, *setups, rs, s.rounds);
    auto md = write_report(*w, results, ro);
    if (!md) {
      std::cerr << "spry bench: " << md.err().message << "\n";
      return 1;
    }
    std::printf("%s\nspry bench: results, CSV, plots and summary.md in %s\n", md->c_str(), out.c_str());
    return any_ran(results) ? 0 : 1;
  }
  // A sweep: every concurrency in turn, each with its full report in c<N>/.
  std::vector<sweep_point> points;
  bool any = false;
  for (unsigned c : s.users) {
    std::fprintf(stderr, "spry bench: %u connection(s)\n", c);
    w->load.connections = c;
    sweep_point p;
    p.value = c;
    p.results = run_rounds(*w, *setups, rs, s.rounds);
    report_options one = ro;
    one.dir = (fs::path(out) / ("c" + std::to_string(c))).string();
    fs::create_directories(one.dir, ec);
    if (auto md = write_report(*w, p.results, one); !md)
      std::cerr << "spry bench: " << md.err().message << "\n";
    any = any || any_ran(p.results);
    points.push_back(std::move(p));
  }
  auto md = write_sweep(points, sweep_axis::connections, ro);
  if (!md) {
    std::cerr << "spry bench: " << md.err().message << "\n";
    return 1;
  }
  std::printf("%s\nspry bench: sweep.csv, sweep-*.png, sweep.md and a report per concurrency "
              "(c<N>/) in %s\n", md->c_str(), out.c_str());
  return any ? 0 : 1;
}

int run_audit_command(commands::state& s) {
  auto w = load_workload_file(s.file);
  if (!w) {
    std::cerr << "spry audit: " << w.err().message << "\n";
    return 2;
  }
  if (auto ok = apply(s, *w); !ok) {
    std::cerr << "spry audit: " << ok.err().message << "\n";
    return 2;
  }
  auto setups = resolve(*w);
  if (!setups) {
    std::cerr << "spry audit: " << setups.err().message << "\n";
    return 2;
  }
  const std::string out = s.out.empty() ? "audit-results" : s.out;
  audit_settings as;
  as.run.spry_binary = fs::read_symlink("/proc/self/exe").string();
  as.run.work_dir = (fs::path(out) / "logs").string();
  as.run.log_level = s.log_level;
  if (!s.duration.empty())
    as.duration = w->load.duration;
  if (!s.warmup.empty())
    as.warmup = w->load.warmup;
  if (s.users.size() > 1) {
    std::cerr << "spry audit: one -c value (a sweep is for spry bench)\n";
    return 2;
  }
  if (!s.users.empty())
    as.users = s.users.front();
  as.use_perf = !s.no_perf;
  std::error_code ec;
  fs::create_directories(as.run.work_dir, ec);
  if (ec) {
    std::cerr << "spry audit: cannot create " << as.run.work_dir << ": " << ec.message() << "\n";
    return 2;
  }
  const auto rows = run_audit(*w, *setups, as);
  const std::string md = audit_markdown(rows, *w);
  std::ofstream(fs::path(out) / "audit.md") << md;
  std::ofstream(fs::path(out) / "audit.json") << audit_json(rows) << "\n";
  std::printf("%s\nspry audit: audit.md and audit.json in %s\n", md.c_str(), out.c_str());
  bool any = false;
  for (const auto& r : rows)
    any = any || (r.ran && r.requests > 0);
  return any ? 0 : 1;
}

} // namespace

commands::commands(CLI::App& cli) : s_(std::make_unique<state>()) {
  auto& s = *s_;
  s.bench = cli.add_subcommand(
    "bench", "Run a workload on several setups (transports, policies) side by side: req/s over "
             "time, latency per request kind, CPU per component, idle CPU; JSON, CSV, plots, "
             "Markdown");
  add_common(*s.bench, s);
  s.bench->add_option("--baseline", s.baseline, "Setup the ratios are against (default: the workload's, tcp)");
  s.bench->add_option("--idle", s.idle, "Quiet period after the load, for idle CPU (0 to skip)");
  s.bench->add_option("--mode", s.mode, "closed, open or bursts")
    ->check(CLI::IsMember({"closed", "open", "bursts"}));
  s.bench->add_option("--spawn-rate", s.spawn_rate, "Closed loop: users started per second (0: all at once)");
  s.bench->add_option("--think", s.think, "Closed loop: think time, or MIN,MAX (uniform)");
  s.bench->add_option("--rate", s.rate, "Open loop: requests per second");
  s.bench->add_option("--period", s.period, "Bursts: time between bursts");
  s.bench->add_option("--burst", s.burst, "Bursts: requests per burst");
  s.bench->add_option("--requests,-n", s.requests, "Stop each setup after this many requests");
  s.bench->add_option("--rounds", s.rounds, "Run the setups this many times, alternating, and "
                                             "merge each setup's rounds")
    ->check(CLI::Range(1, 100));
  s.bench->add_option("--chain-length", s.chain_lengths,
                      "Sweep the length of the first chain (its first function repeated N times), "
                      "e.g. 1,2,4,8: latency and CPU per added function, per setup")
    ->delimiter(',')
    ->check(CLI::Range(1u, 64u));
  s.bench->add_option("--plot-format", s.plot_format, "png or svg")->check(CLI::IsMember({"png", "svg"}));

  s.audit = cli.add_subcommand(
    "audit", "Count what one request costs the data path on each setup: payload copies, context "
             "switches, system calls, protocol messages, serializations (measured, per request)");
  add_common(*s.audit, s);
  s.audit->add_flag("--no-perf", s.no_perf, "Count system calls from /proc (read/write family) "
                                            "instead of perf");
}

commands::~commands() = default;

std::optional<int> commands::run() {
  if (s_->bench->parsed())
    return run_bench(*s_);
  if (s_->audit->parsed())
    return run_audit_command(*s_);
  return std::nullopt;
}

} // namespace spry::bench
