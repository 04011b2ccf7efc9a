#include "bench/report/report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace spry::bench {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

double ms(uint64_t ns) { return ns / 1e6; }

std::string machine_description() {
  std::string model;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  utsname u{};
  uname(&u);
  return std::to_string(std::thread::hardware_concurrency()) + " CPUs (" +
         (model.empty() ? "unknown model" : model) + "), Linux " + u.release;
}

const setup_result* find_baseline(const std::vector<setup_result>& results, const std::string& name) {
  for (const auto& r : results)
    if (r.ran && r.config.name == name)
      return &r;
  return nullptr;
}

std::string ratio(double v, double base) {
  if (!(base > 0) || !(v >= 0))
    return "-";
  return fmt("%.2fx", v / base);
}

json latency_json(const core::latency_histogram& h) {
  return {{"count", h.count()},          {"mean_ms", h.mean() / 1e6},
          {"p50_ms", ms(h.percentile(0.5))}, {"p95_ms", ms(h.percentile(0.95))},
          {"p99_ms", ms(h.percentile(0.99))}, {"max_ms", ms(h.max())}};
}

json processes_json(const std::vector<process_sample>& v) {
  json a = json::array();
  for (const auto& p : v)
    a.push_back({{"pid", p.pid},
                 {"role", p.role},
                 {"label", p.label},
                 {"function", p.function},
                 {"cpu_seconds", p.cpu_seconds},
                 {"poller_cpu_seconds", p.poller_cpu_seconds},
                 {"voluntary_switches", p.voluntary_switches},
                 {"involuntary_switches", p.involuntary_switches},
                 {"read_syscalls", p.read_syscalls},
                 {"write_syscalls", p.write_syscalls}});
  return a;
}

json components_json(const std::vector<std::pair<std::string, double>>& c) {
  json o = json::object();
  for (const auto& [k, v] : c)
    o[k] = v;
  return o;
}

} // namespace

// Runs a program to completion; its exit code, 127 if it could not be started.
int run_program(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = fork();
  if (pid < 0)
    return 127;
  if (pid == 0) {
    if (FILE* f = std::fopen(log.c_str(), "w")) {
      dup2(fileno(f), STDOUT_FILENO);
      dup2(fileno(f), STDERR_FILENO);
    }
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

std::string gnuplot_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c == '_' ? ' ' : c; // gnuplot treats _ as a subscript in titles
  }
  return out + "\"";
}

std::string file_safe(const std::string& s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
  return out;
}


std::string run_gnuplot(const std::string& dir, const std::vector<std::string>& scripts) {
  // gnuplot runs in the output directory so the scripts use plain file names and can be rerun.
  const auto cwd = fs::current_path();
  fs::current_path(dir);
  int failed = 0;
  bool missing = false;
  for (const auto& s : scripts) {
    const int rc = run_program({"gnuplot", s}, s + ".log");
    missing = missing || rc == 127;
    failed += rc != 0;
    if (rc == 0)
      fs::remove(s + ".log");
  }
  fs::current_path(cwd);
  if (missing)
    return "gnuplot is not installed (scripts/setup installs it): the *.gp scripts are written, "
           "no images.";
  if (failed)
    return std::to_string(failed) + " plot(s) failed; see the *.gp.log files.";
  return {};
}

std::vector<std::pair<std::string, double>> cpu_by_component(const std::vector<process_sample>& v) {
  std::map<std::string, double> by;
  double pollers = 0;
  for (const auto& p : v) {
    std::string c;
    if (p.role == "gateway")
      c = "gateway";
    else if (p.role == "instance")
      c = "fn " + p.function;
    else if (p.role == "sidecar")
      c = "queue-proxies";
    else if (p.role == "nginx")
      c = "nginx";
    else
      c = "other";
    by[c] += p.cpu_seconds - p.poller_cpu_seconds;
    pollers += p.poller_cpu_seconds;
  }
  std::vector<std::pair<std::string, double>> out;
  if (by.count("gateway"))
    out.emplace_back("gateway", by["gateway"]);
  for (const auto& [k, val] : by)
    if (k.rfind("fn ", 0) == 0)
      out.emplace_back(k, val);
  for (const char* k : {"queue-proxies", "nginx", "other"})
    if (by.count(k))
      out.emplace_back(k, by[k]);
  if (pollers > 0)
    out.emplace_back("pollers", pollers);
  return out;
}

core::expected<std::string> write_report(const workload& w, const std::vector<setup_result>& results,
                                         const report_options& opts) {
  std::error_code ec;
  fs::create_directories(opts.dir, ec);
  if (ec)
    return core::make_error("cannot create " + opts.dir + ": " + ec.message());
  const auto path = [&](const std::string& f) { return (fs::path(opts.dir) / f).string(); };
  const setup_result* base = find_baseline(results, opts.baseline);
  std::vector<const setup_result*> ran;
  for (const auto& r : results)
    if (r.ran)
      ran.push_back(&r);
  std::vector<std::string> kinds;
  for (const auto& q : w.requests)
    kinds.push_back(q.name);

  // -- results.json ------------------------------------------------------------------------------
  json doc;
  doc["workload"] = {{"file", w.file}, {"app", w.app_file}, {"env", w.env}};
  const auto& lo = w.load;
  doc["load"] = {{"mode", lo.mode == load_mode::closed ? "closed" : lo.mode == load_mode::open ? "open" : "bursts"},
                 {"users_or_connections", lo.connections},
                 {"spawn_rate", lo.spawn_rate},
                 {"think_time_ms", {lo.think_min.count(), lo.think_max.count()}},
                 {"rate", lo.rate},
                 {"period_ms", lo.period.count()},
                 {"burst", lo.burst_size},
                 {"duration_ms", lo.duration.count()},
                 {"warmup_ms", lo.warmup.count()},
                 {"max_requests", lo.max_requests},
                 {"idle_ms", w.idle.count()}};
  json reqs = json::array();
  for (const auto& q : w.requests)
    reqs.push_back({{"name", q.name}, {"method", q.method}, {"path", q.path}, {"weight", q.weight},
                    {"body_bytes", q.body_size ? q.body_size : q.body.size()}});
  doc["requests"] = reqs;
  doc["machine"] = machine_description();
  doc["baseline"] = opts.baseline;
  doc["rounds"] = opts.rounds;
  json setups = json::array();
  for (const auto& r : results) {
    json s = {{"name", r.config.name}, {"transport", r.config.transport},
              {"description", r.config.description}, {"ran", r.ran}};
    if (!r.ran) {
      s["skipped"] = r.skipped;
      setups.push_back(s);
      continue;
    }
    const auto& l = r.load;
    s["seconds"] = l.seconds;
    s["ok"] = l.ok();
    s["errors"] = l.errors();
    s["transport_errors"] = l.transport_errors;
    s["unsent"] = l.unsent;
    json codes = json::object();
    for (const auto& [c, n] : l.by_status)
      codes[std::to_string(c)] = n;
    s["by_status"] = codes;
    s["requests_per_second"] = l.requests_per_second();
    s["latency"] = latency_json(l.latency_ns);
    json per = json::array();
    for (const auto& k : l.by_request) {
      json e = latency_json(k.latency_ns);
      e["name"] = k.name;
      e["ok"] = k.ok();
      uint64_t errs = k.transport_errors;
      for (const auto& [c, n] : k.by_status)
        if (c < 200 || c >= 300)
          errs += n;
      e["errors"] = errs;
      per.push_back(e);
    }
    s["by_request"] = per;
    s["throughput"] = {{"bin_seconds", l.bin_seconds}, {"ok", l.ok_per_bin}, {"errors", l.errors_per_bin}};
    const double cpu = r.tree_cpu_seconds();
    s["cpu"] = {{"seconds", cpu},
                {"cores", r.busy_seconds > 0 ? cpu / r.busy_seconds : 0},
                {"per_request_us", r.cpu_per_request() * 1e6},
                {"components", components_json(cpu_by_component(r.busy))},
                {"processes", processes_json(r.busy)}};
    s["idle"] = {{"seconds", r.idle_seconds},
                 {"cpu_seconds", r.idle_cpu_seconds()},
                 {"percent_of_a_core", r.idle_seconds > 0 ? 100 * r.idle_cpu_seconds() / r.idle_seconds : 0},
                 {"components", components_json(cpu_by_component(r.idle))},
                 {"processes", processes_json(r.idle)}};
    s["generator"] = {{"cpu_seconds", l.generator_cpu_seconds},
                      {"wall_seconds", l.generator_wall_seconds},
                      {"percent_of_a_core", l.generator_wall_seconds > 0
                                              ? 100 * l.generator_cpu_seconds / l.generator_wall_seconds
                                              : 0}};
    setups.push_back(s);
  }
  doc["setups"] = setups;
  std::ofstream(path("results.json")) << doc.dump(2) << "\n";

  // -- CSV ---------------------------------------------------------------------------------------
  {
    std::ofstream f(path("summary.csv"));
    f << "setup,request,ok,errors,requests_per_second,p50_ms,p95_ms,p99_ms,cpu_seconds,"
         "cpu_us_per_request,idle_cpu_percent_of_a_core,generator_cpu_percent_of_a_core\n";
    for (const auto* r : ran) {
      const auto& l = r->load;
      const double idle_pct = r->idle_seconds > 0 ? 100 * r->idle_cpu_seconds() / r->idle_seconds : 0;
      const double gen_pct = l.generator_wall_seconds > 0 ? 100 * l.generator_cpu_seconds / l.generator_wall_seconds : 0;
      f << r->config.name << ",all," << l.ok() << "," << l.errors() << "," << l.requests_per_second()
        << "," << ms(l.latency_ns.percentile(0.5)) << "," << ms(l.latency_ns.percentile(0.95)) << ","
        << ms(l.latency_ns.percentile(0.99)) << "," << r->tree_cpu_seconds() << ","
        << r->cpu_per_request() * 1e6 << "," << idle_pct << "," << gen_pct << "\n";
      for (const auto& k : l.by_request)
        f << r->config.name << "," << k.name << "," << k.ok() << ","
          << (k.transport_errors + [&] {
               uint64_t n = 0;
               for (const auto& [c, cnt] : k.by_status)
                 if (c < 200 || c >= 300)
                   n += cnt;
               return n;
             }())
          << "," << (l.seconds > 0 ? k.ok() / l.seconds : 0) << "," << ms(k.latency_ns.percentile(0.5))
          << "," << ms(k.latency_ns.percentile(0.95)) << "," << ms(k.latency_ns.percentile(0.99))
          << ",,,,\n";
    }
  }
  {
    std::ofstream f(path("throughput.csv"));
    std::ofstream d(path("throughput.dat"));
    f << "setup,t_seconds,ok_per_second,errors_per_second\n"; // t: middle of the bin
    for (const auto* r : ran) {
      const auto& l = r->load;
      d << "# " << r->config.name << "\n";
      // Bins that start after the measured window hold only the drain of the requests still in
      // flight at its end: a partial bin that would show as a drop to zero.
      const size_t full = static_cast<size_t>(w.load.duration.count() / 1e3 / l.bin_seconds + 0.5) *
                          std::max(1u, opts.rounds); // rounds follow one another

      size_t shown = 0;
      for (size_t i = 0; i < std::min(full, l.ok_per_bin.size()); ++i, ++shown) {
        const double t = (i + 0.5) * l.bin_seconds;
        const double okps = l.ok_per_bin[i] / l.bin_seconds;
        const double erps = (i < l.errors_per_bin.size() ? l.errors_per_bin[i] : 0) / l.bin_seconds;
        f << r->config.name << "," << t << "," << okps << "," << erps << "\n";
        d << t << " " << okps << "\n";
      }
      if (shown == 0)
        d << "NaN NaN\n"; // an empty block would shift gnuplot's index numbering
      d << "\n\n";
    }
  }
  {
    std::ofstream f(path("latency_cdf.csv"));
    std::ofstream d(path("latency_cdf.dat"));
    f << "setup,request,latency_ms,fraction\n";
    for (size_t k = 0; k <= kinds.size(); ++k) // the last block is every request together
      for (const auto* r : ran) {
        const auto& h = k < kinds.size() ? r->load.by_request[k].latency_ns : r->load.latency_ns;
        const std::string name = k < kinds.size() ? kinds[k] : "all";
        d << "# " << r->config.name << " " << name << "\n";
        for (const auto& [v, frac] : h.cdf()) {
          f << r->config.name << "," << name << "," << ms(v) << "," << frac << "\n";
          d << ms(v) << " " << frac << "\n";
        }
        if (h.count() == 0)
          d << "NaN NaN\n"; // an empty block would shift gnuplot's index numbering
        d << "\n\n";
      }
  }
  std::vector<std::string> components; // union, in first-seen order
  for (const auto* r : ran)
    for (const auto& [c, v] : cpu_by_component(r->busy))
      if (std::find(components.begin(), components.end(), c) == components.end())
        components.push_back(c);
  components.push_back("load generator");
  {
    std::ofstream f(path("cpu.csv"));
    std::ofstream d(path("cpu.dat"));
    f << "setup,component,cpu_seconds,cpu_us_per_request,idle_cpu_seconds\n";
    d << "setup";
    for (const auto& c : components)
      d << " " << gnuplot_quote(c);
    d << "\n";
    for (const auto* r : ran) {
      auto busy = cpu_by_component(r->busy);
      busy.emplace_back("load generator", r->load.generator_cpu_seconds);
      auto idle = cpu_by_component(r->idle);
      std::map<std::string, double> b(busy.begin(), busy.end()), i(idle.begin(), idle.end());
      const double ok = static_cast<double>(std::max<uint64_t>(1, r->load.ok()));
      d << gnuplot_quote(r->config.name);
      for (const auto& c : components) {
        const double v = b.count(c) ? b[c] : 0;
        if (b.count(c))
          f << r->config.name << "," << c << "," << v << "," << v * 1e6 / ok << ","
            << (i.count(c) ? i[c] : 0) << "\n";
        d << " " << v * 1e6 / ok;
      }
      d << "\n";
    }
  }

  // -- plots ---------------------------------------------------------------------------------------
  std::string plot_note;
  if (!ran.empty()) {
    const std::string term = opts.plot_format == "svg"
                               ? "set terminal svg size 900,500 dynamic font 'sans,11'\n"
                               : "set terminal pngcairo size 900,500 font 'sans,10'\n";
    const std::string ext = opts.plot_format == "svg" ? ".svg" : ".png";
    std::vector<std::string> scripts;
    {
      std::ofstream g(path("throughput.gp"));
      g << term << "set output 'throughput" << ext << "'\n"
        << "set title " << gnuplot_quote(opts.title + ": successful requests per second") << "\n"
        << "set xlabel '" << (opts.rounds > 1 ? "measured seconds, rounds one after the other" : "seconds after warm-up") << "'\nset ylabel 'requests/s'\nset key outside right\n"
        << "set grid\nplot ";
      for (size_t i = 0; i < ran.size(); ++i)
        g << (i ? ", " : "") << "'throughput.dat' index " << i << " using 1:2 with linespoints title "
          << gnuplot_quote(ran[i]->config.name);
      g << "\n";
      scripts.push_back("throughput.gp");
    }
    for (size_t k = 0; k <= kinds.size(); ++k) {
      const std::string name = k < kinds.size() ? kinds[k] : "all";
      const std::string file = "latency-cdf-" + file_safe(name);
      std::ofstream g(path(file + ".gp"));
      g << term << "set output '" << file << ext << "'\n"
        << "set title " << gnuplot_quote(opts.title + ": latency CDF, " + (k < kinds.size() ? name : "all requests")) << "\n"
        << "set xlabel 'latency (ms)'\nset ylabel 'fraction of requests'\nset logscale x\n"
        << "set yrange [0:1.02]\nset key bottom right\nset grid\nplot ";
      for (size_t i = 0; i < ran.size(); ++i)
        g << (i ? ", " : "") << "'latency_cdf.dat' index " << k * ran.size() + i
          << " using 1:2 with steps title " << gnuplot_quote(ran[i]->config.name);
      g << "\n";
      scripts.push_back(file + ".gp");
    }
    {
      std::ofstream g(path("cpu.gp"));
      g << term << "set output 'cpu" << ext << "'\n"
        << "set title " << gnuplot_quote(opts.title + ": CPU per request by component") << "\n"
        << "set ylabel 'CPU microseconds per request'\nset style data histograms\n"
        << "set style histogram rowstacked\nset style fill solid 0.8 border -1\nset boxwidth 0.6\n"
        << "set key outside right\nset grid ytics\n"
        << "plot for [i=2:" << components.size() + 1 << "] 'cpu.dat' using i:xtic(1) title columnheader(i)\n";
      scripts.push_back("cpu.gp");
    }
    plot_note = run_gnuplot(opts.dir, scripts);
  }

  // -- summary.md ----------------------------------------------------------------------------------
  std::ostringstream md;
  const std::string base_name = base ? opts.baseline : std::string("baseline");
  md << "## " << opts.title << ": " << (ran.size()) << " setup(s) side by side\n\n";
  md << "Machine: " << machine_description() << ". Load: ";
  if (lo.mode == load_mode::closed)
    md << lo.connections << " closed-loop users (spawn " << lo.spawn_rate << "/s, think "
       << lo.think_min.count() << "-" << lo.think_max.count() << " ms)";
  else if (lo.mode == load_mode::open)
    md << "open loop at " << lo.rate << " req/s (" << lo.connections << " connections at most)";
  else
    md << "bursts of " << lo.burst_size << " every " << lo.period.count() / 1e3 << " s";
  md << ", " << lo.warmup.count() / 1e3 << " s warm-up, " << lo.duration.count() / 1e3
     << " s measured; idle CPU over " << w.idle.count() / 1e3 << " s";
  if (opts.rounds > 1)
    md << "; " << opts.rounds << " alternating rounds per setup, merged";
  md << ".";
  for (const auto& [k, v] : w.env)
    md << " " << k << "=" << v << ".";
  md << "\n\n";
  md << "| setup | req/s | p50 ms | p95 ms | p99 ms | CPU cores | CPU ms/req | idle CPU % of a core "
        "| errors | req/s vs " << base_name << " | p99 vs " << base_name << " | CPU/req vs " << base_name << " |\n";
  md << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto* r : ran) {
    const auto& l = r->load;
    const double idle_pct = r->idle_seconds > 0 ? 100 * r->idle_cpu_seconds() / r->idle_seconds : 0;
    md << "| " << r->config.name << " | " << fmt("%.0f", l.requests_per_second()) << " | "
       << fmt("%.2f", ms(l.latency_ns.percentile(0.5))) << " | "
       << fmt("%.2f", ms(l.latency_ns.percentile(0.95))) << " | "
       << fmt("%.2f", ms(l.latency_ns.percentile(0.99))) << " | "
       << fmt("%.2f", r->busy_seconds > 0 ? r->tree_cpu_seconds() / r->busy_seconds : 0) << " | "
       << fmt("%.3f", r->cpu_per_request() * 1e3) << " | " << fmt("%.1f", idle_pct) << " | "
       << l.errors() << " | "
       << (base ? ratio(l.requests_per_second(), base->load.requests_per_second()) : "-") << " | "
       << (base ? ratio(static_cast<double>(l.latency_ns.percentile(0.99)),
                        static_cast<double>(base->load.latency_ns.percentile(0.99)))
                : "-")
       << " | " << (base ? ratio(r->cpu_per_request(), base->cpu_per_request()) : "-") << " |\n";
  }
  md << "\nCPU cores = CPU seconds of every process of the setup (gateway, instances, sidecars, "
        "nginx) over the measured window, from /proc. ";
  if (!base)
    md << "No ratios: the baseline setup '" << opts.baseline << "' did not run. ";
  md << "\n\n";
  if (!ran.empty() && kinds.size() > 1) {
    md << "Latency per request kind, p50 / p99 ms:\n\n| request |";
    for (const auto* r : ran)
      md << " " << r->config.name << " |";
    md << "\n|---|";
    for (size_t i = 0; i < ran.size(); ++i)
      md << "---:|";
    md << "\n";
    for (size_t k = 0; k < kinds.size(); ++k) {
      md << "| " << kinds[k] << " |";
      for (const auto* r : ran) {
        const auto& h = r->load.by_request[k].latency_ns;
        md << " " << fmt("%.2f", ms(h.percentile(0.5))) << " / " << fmt("%.2f", ms(h.percentile(0.99))) << " |";
      }
      md << "\n";
    }
    md << "\n";
  }
  if (!ran.empty()) {
    md << "CPU by component, microseconds per request (idle: % of a core):\n\n| component |";
    for (const auto* r : ran)
      md << " " << r->config.name << " |";
    md << "\n|---|";
    for (size_t i = 0; i < ran.size(); ++i)
      md << "---:|";
    md << "\n";
    for (const auto& c : components) {
      md << "| " << c << " |";
      for (const auto* r : ran) {
        auto busy = cpu_by_component(r->busy);
        busy.emplace_back("load generator", r->load.generator_cpu_seconds);
        auto idle = cpu_by_component(r->idle);
        std::map<std::string, double> b(busy.begin(), busy.end()), i(idle.begin(), idle.end());
        const double ok = static_cast<double>(std::max<uint64_t>(1, r->load.ok()));
        if (!b.count(c)) {
          md << " - |";
          continue;
        }
        md << " " << fmt("%.0f", b[c] * 1e6 / ok);
        if (c != "load generator" && r->idle_seconds > 0)
          md << " (idle " << fmt("%.1f", 100 * (i.count(c) ? i[c] : 0) / r->idle_seconds) << "%)";
        md << " |";
      }
      md << "\n";
    }
    md << "\n";
    for (const auto* r : ran) {
      const auto& l = r->load;
      if (l.generator_wall_seconds > 0 && l.generator_cpu_seconds / l.generator_wall_seconds > 0.8)
        md << "Note: on " << r->config.name << " the load generator used "
           << fmt("%.0f", 100 * l.generator_cpu_seconds / l.generator_wall_seconds)
           << "% of a core: it may have been the bottleneck.\n";
    }
  }
  for (const auto& r : results)
    if (!r.ran)
      md << "- " << r.config.name << ": skipped: " << r.skipped << "\n";
  if (!plot_note.empty())
    md << "\n" << plot_note << "\n";
  std::ofstream(path("summary.md")) << md.str();
  return md.str();
}

} // namespace spry::bench
