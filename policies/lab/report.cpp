#include "policies/lab/report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <unistd.h>

namespace spry::policies::lab {

namespace fs = std::filesystem;

namespace {

// The columns of results.csv and of the summary, in order.
const std::vector<std::string>& columns() { return metric_names(); }

interval over_seeds(const std::vector<run_record>& runs, const std::string& policy,
                    const std::string& workload, const std::string& metric) {
  return t_interval(per_seed(runs, policy, workload, metric));
}

// Numbers for people: no exponents below ten million, about three significant digits.
std::string fmt(double v) {
  std::ostringstream os;
  const double a = std::fabs(v);
  if (a >= 1e7)
    os << std::setprecision(3) << std::scientific << v;
  else if (a >= 100 || v == 0)
    os << std::fixed << std::setprecision(0) << v;
  else if (a >= 10)
    os << std::fixed << std::setprecision(1) << v;
  else if (a >= 1)
    os << std::fixed << std::setprecision(2) << v;
  else
    os << std::setprecision(3) << v;
  return os.str();
}

std::string percent(double v) {
  if (std::isnan(v))
    return "n/a";
  std::ostringstream os;
  os << std::showpos << std::fixed << std::setprecision(1) << v * 100 << "%";
  return os.str();
}

// File names from user-chosen names: keep them simple and unambiguous.
std::string slug(const std::string& s) {
  std::string o;
  for (char c : s)
    o += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return o;
}

// Quotes a label for gnuplot (double quotes; backslashes and quotes escaped).
std::string gp_quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      o += '\\';
    o += c;
  }
  return o + "\"";
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path)
    return false;
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':'))
    if (!dir.empty() && ::access((fs::path(dir) / program).c_str(), X_OK) == 0)
      return true;
  return false;
}

class writer {
public:
  explicit writer(const std::string& dir) : dir_(dir) {}

  std::ofstream open(const std::string& name) {
    std::ofstream out(fs::path(dir_) / name);
    if (!out)
      throw core::error{(fs::path(dir_) / name).string() + ": cannot write"};
    written_.push_back((fs::path(dir_) / name).string());
    out << std::setprecision(10);
    return out;
  }
  std::vector<std::string>& written() { return written_; }

private:
  std::string dir_;
  std::vector<std::string> written_;
};

} // namespace

core::expected<report_files> write_report(const experiment& e, const std::vector<run_record>& runs,
                                          const std::string& dir, bool plots) {
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "data", ec);
  if (ec)
    return core::make_error(dir + ": cannot create the output directory: " + ec.message());
  writer w(dir);
  report_files files;
  const auto claims = evaluate_claims(e, runs);
  try {
    // -- results.csv -----------------------------------------------------------------------------
    {
      auto out = w.open("results.csv");
      out << "policy,workload,seed,requests";
      for (const auto& c : columns())
        out << ',' << c;
      out << ",slo_violations,events,simulated_s,wall_s\n";
      for (const auto& r : runs) {
        out << r.policy << ',' << r.workload << ',' << r.seed << ',' << r.result.requests;
        for (const auto& c : columns())
          out << ',' << metric_value(r.result, c);
        out << ',' << r.result.slo_violations << ',' << r.result.events << ','
            << r.result.end_time_s << ',' << r.wall_s << '\n';
      }
    }
    // -- summary.csv: per policy, workload and metric, the mean over seeds and its interval -----
    {
      auto out = w.open("summary.csv");
      out << "policy,workload,metric,seeds,mean,sd,ci95_lo,ci95_hi\n";
      for (const auto& wl : e.workloads)
        for (const auto& p : e.policies)
          for (const auto& c : columns()) {
            const interval s = over_seeds(runs, p.name, wl.name, c);
            if (s.n == 0)
              continue;
            out << p.name << ',' << wl.name << ',' << c << ',' << s.n << ',' << s.mean << ','
                << s.sd << ',' << s.lo() << ',' << s.hi() << '\n';
          }
    }
    // -- claims.csv ------------------------------------------------------------------------------
    if (!claims.empty()) {
      auto out = w.open("claims.csv");
      out << "claim,workload,metric,policy,baseline,seeds,policy_mean,policy_ci95_lo,"
             "policy_ci95_hi,baseline_mean,baseline_ci95_lo,baseline_ci95_hi,difference_mean,"
             "difference_ci95_lo,difference_ci95_hi,change,change_ci95_lo,change_ci95_hi,"
             "published_change,published_size,verdict,policy_slo_attainment,"
             "baseline_slo_attainment\n";
      for (const auto& c : claims) {
        out << c.claim->name << ',' << c.workload << ',' << c.claim->metric << ','
            << c.claim->policy << ',' << c.claim->baseline << ',' << c.difference.n << ','
            << c.policy.mean << ',' << c.policy.lo() << ',' << c.policy.hi() << ','
            << c.baseline.mean << ',' << c.baseline.lo() << ',' << c.baseline.hi() << ','
            << c.difference.mean << ',' << c.difference.lo() << ',' << c.difference.hi() << ','
            << c.measured_change << ',' << c.change_lo << ',' << c.change_hi << ',';
        if (c.claim->has_published_size) // empty for a direction-only claim
          out << c.claim->published_change;
        out << ',' << c.published_size << ',' << c.verdict << ','
            << c.policy_slo_attainment.mean << ',' << c.baseline_slo_attainment.mean << '\n';
      }
    }
    // -- results.json ----------------------------------------------------------------------------
    {
      nlohmann::json j;
      j["experiment"] = e.name;
      j["description"] = e.description;
      j["duration_s"] = e.options.duration_s;
      j["warmup_s"] = e.options.warmup_s;
      j["tick_s"] = e.options.tick_s;
      j["seeds"] = e.seeds;
      j["nodes"] = e.nodes.size();
      for (const auto& r : runs) {
        nlohmann::json x;
        x["policy"] = r.policy;
        x["workload"] = r.workload;
        x["seed"] = r.seed;
        x["requests"] = r.result.requests;
        for (const auto& c : columns())
          x[c] = metric_value(r.result, c);
        x["slo_violations"] = r.result.slo_violations;
        x["events"] = r.result.events;
        x["wall_s"] = r.wall_s;
        j["runs"].push_back(std::move(x));
      }
      auto json_interval = [](const interval& i) {
        nlohmann::json x;
        x["n"] = i.n;
        x["mean"] = i.mean;
        x["sd"] = i.sd;
        x["ci95"] = {i.lo(), i.hi()};
        return x;
      };
      // NaN is not JSON: an undefined relative change is null.
      auto number_or_null = [](double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); };
      for (const auto& wl : e.workloads)
        for (const auto& p : e.policies)
          for (const auto& c : columns()) {
            const interval s = over_seeds(runs, p.name, wl.name, c);
            if (s.n == 0)
              continue;
            nlohmann::json x = json_interval(s);
            x["policy"] = p.name;
            x["workload"] = wl.name;
            x["metric"] = c;
            j["summary"].push_back(std::move(x));
          }
      for (const auto& c : claims) {
        nlohmann::json x;
        x["claim"] = c.claim->name;
        x["workload"] = c.workload;
        x["metric"] = c.claim->metric;
        x["policy"] = c.claim->policy;
        x["baseline"] = c.claim->baseline;
        x["seeds"] = c.difference.n;
        x["policy_value"] = json_interval(c.policy);
        x["baseline_value"] = json_interval(c.baseline);
        x["difference"] = json_interval(c.difference);
        x["measured_change"] = number_or_null(c.measured_change);
        x["measured_change_ci95"] = {number_or_null(c.change_lo), number_or_null(c.change_hi)};
        x["published_change"] =
          c.claim->has_published_size ? nlohmann::json(c.claim->published_change) : nlohmann::json();
        x["published"] = c.claim->published;
        x["published_size"] = c.published_size;
        x["verdict"] = c.verdict;
        x["under_sampled"] = c.under_sampled;
        x["policy_slo_attainment"] = json_interval(c.policy_slo_attainment);
        x["baseline_slo_attainment"] = json_interval(c.baseline_slo_attainment);
        j["claims"].push_back(std::move(x));
      }
      auto out = w.open("results.json");
      out << j.dump(2) << '\n';
    }
    // -- per-run traces (first seed: the plots show one representative run) ---------------------
    const uint64_t first_seed = e.seeds.front();
    {
      auto cdf = w.open("latency_cdf.csv");
      auto inst = w.open("instances.csv");
      auto alloc = w.open("allocation.csv");
      auto chains = w.open("chains.csv");
      chains << "policy,workload,seed,chain,requests,slo_violations\n";
      cdf << "policy,workload,seed,latency_ms,fraction\n";
      inst << "policy,workload,seed,t_s,instances,ready,cpu,queued\n";
      alloc << "policy,workload,seed,function,arrivals,demand,allocation,mean_service_ms\n";
      for (const auto& r : runs) {
        for (const auto& [ms, q] : r.result.latency_cdf)
          cdf << r.policy << ',' << r.workload << ',' << r.seed << ',' << ms << ',' << q << '\n';
        if (r.seed != first_seed)
          continue;
        for (const auto& p : r.result.series)
          inst << r.policy << ',' << r.workload << ',' << r.seed << ',' << p.t << ',' << p.instances
               << ',' << p.ready << ',' << p.cpu << ',' << p.queued << '\n';
        for (size_t c = 0; c < r.result.chains.size(); ++c)
          chains << r.policy << ',' << r.workload << ',' << r.seed << ',' << c << ','
                 << r.result.chains[c].requests << ',' << r.result.chains[c].slo_violations << '\n';
        for (const auto& f : r.result.functions)
          alloc << r.policy << ',' << r.workload << ',' << r.seed << ',' << f.name << ','
                << f.arrivals << ',' << f.demand << ',' << f.allocation << ',' << f.mean_service_ms
                << '\n';
      }
    }
    // -- gnuplot data and script -----------------------------------------------------------------
    const std::string ext = e.plot_format;
    std::vector<std::string> images;
    {
      auto gp = w.open("plots.gp");
      const std::string terminal = ext == "svg" ? "svg size 900,540 dynamic background rgb 'white'"
                                                : "pngcairo size 900,540";
      gp << "# Generated by spry-lab for experiment " << e.name << ": gnuplot plots.gp\n";
      // noenhanced: names with '_' are text, not subscripts.
      gp << "set terminal " << terminal << " noenhanced\nset datafile separator whitespace\nset key outside right\n"
         << "set grid\n";
      for (const auto& wl : e.workloads) {
        const std::string ws = slug(wl.name);
        // Data files, one per (plot, policy), for the first seed.
        for (const auto& p : e.policies) {
          for (const auto& r : runs) {
            if (r.workload != wl.name || r.policy != p.name || r.seed != first_seed)
              continue;
            const std::string base = "data/" + ws + "." + slug(p.name);
            auto cdf = w.open(base + ".cdf");
            for (const auto& [ms, q] : r.result.latency_cdf)
              cdf << ms << ' ' << q << '\n';
            auto inst = w.open(base + ".instances");
            for (const auto& s : r.result.series)
              inst << s.t << ' ' << s.instances << ' ' << s.cpu << '\n';
            // Allocation vs demand, functions by decreasing demand (at most 60 shown).
            std::vector<function_result> fr = r.result.functions;
            std::stable_sort(fr.begin(), fr.end(),
                             [](auto& a, auto& b) { return a.demand > b.demand; });
            auto al = w.open(base + ".allocation");
            for (size_t i = 0; i < fr.size() && i < 60; ++i)
              al << i << ' ' << fr[i].demand << ' ' << fr[i].allocation << ' '
                 << (fr[i].demand > 0 ? std::min(1.0, fr[i].allocation / fr[i].demand) : 1.0)
                 << '\n';
          }
        }
        auto plot_all = [&](const std::string& suffix, const std::string& using_) {
          std::string s = "plot ";
          for (size_t k = 0; k < e.policies.size(); ++k) {
            s += (k ? ", \\\n     " : "") + gp_quote("data/" + ws + "." + slug(e.policies[k].name) + suffix) +
                 " using " + using_ + " with lines lw 2 title " + gp_quote(e.policies[k].name);
          }
          return s + "\n";
        };
        const std::string cdf_img = "latency_cdf_" + ws + "." + ext;
        gp << "\n# -- " << wl.name << "\nset output " << gp_quote(cdf_img) << "\n"
           << "set title " << gp_quote("Latency CDF, " + wl.name + " (seed " + std::to_string(first_seed) + ")") << "\n"
           << "set xlabel 'response time (ms)'\nset ylabel 'fraction of requests'\n"
           << "set logscale x\nset yrange [0:1]\n"
           << plot_all(".cdf", "1:2") << "unset logscale x\nset yrange [*:*]\n";
        const std::string inst_img = "instances_" + ws + "." + ext;
        gp << "set output " << gp_quote(inst_img) << "\n"
           << "set title " << gp_quote("Instances over time, " + wl.name) << "\n"
           << "set xlabel 'time (s)'\nset ylabel 'instances'\n" << plot_all(".instances", "1:2");
        const std::string alloc_img = "allocation_" + ws + "." + ext;
        gp << "set output " << gp_quote(alloc_img) << "\n"
           << "set title " << gp_quote("Allocation / demand per function, " + wl.name + " (by demand)") << "\n"
           << "set xlabel 'function (by decreasing demand)'\nset ylabel 'min(1, allocated / demanded)'\n"
           << "set yrange [0:1.05]\n";
        {
          std::string s = "plot ";
          for (size_t k = 0; k < e.policies.size(); ++k)
            s += (k ? ", \\\n     " : "") + gp_quote("data/" + ws + "." + slug(e.policies[k].name) + ".allocation") +
                 " using 1:4 with linespoints lw 2 title " + gp_quote(e.policies[k].name);
          gp << s << "\nset yrange [*:*]\n";
        }
        images.insert(images.end(), {cdf_img, inst_img, alloc_img});
      }
      gp << "unset output\n";
    }
    if (!plots) {
      files.plot_note = "plots disabled";
    } else if (!on_path("gnuplot")) {
      files.plot_note = "gnuplot is not installed (apt-get install gnuplot-nox): the plot data and "
                        "plots.gp are written; run `gnuplot plots.gp` in the output directory later";
    } else {
      const std::string cmd = "cd '" + dir + "' && gnuplot plots.gp > gnuplot.log 2>&1";
      const int rc = std::system(cmd.c_str());
      if (rc != 0) {
        files.plot_note = "gnuplot failed (see " + (fs::path(dir) / "gnuplot.log").string() + ")";
      } else {
        files.plotted = true;
        for (const auto& i : images)
          w.written().push_back((fs::path(dir) / i).string());
      }
    }
    // -- summary.md ------------------------------------------------------------------------------
    {
      auto md = w.open("summary.md");
      md << std::setprecision(4);
      md << "# Policy lab: " << e.name << "\n\n";
      if (!e.description.empty())
        md << e.description << "\n\n";
      double cpu = 0;
      for (const auto& n : e.nodes)
        cpu += n.cpu;
      md << e.policies.size() << " policies x " << e.workloads.size() << " workloads x "
         << e.seeds.size() << " seeds; " << e.options.duration_s << " s simulated per run ("
         << e.options.warmup_s << " s warm-up not measured), " << e.nodes.size() << " nodes, "
         << cpu << " cores. Values are means over seeds"
         << (e.seeds.size() > 1 ? " ± the half-width of their 95 % confidence interval (Student t "
                                  "over the per-seed values; summary.csv has the bounds)"
                                : "")
         << ".\n\n";
      md << "Latencies are end to end per request (a chain's SLO is the sum of its hops' SLOs); "
            "instance-seconds and CPU-seconds count every instance alive (starting, serving or "
            "draining) in the measured window; fairness is Jain's index of min(1, allocated / "
            "demanded capacity) over the functions with traffic, per 60 s window, averaged over "
            "the windows.\n\n";
      struct col {
        const char* metric;
        const char* title;
        double scale;
      };
      const col cols[] = {{"offered_load", "offered load", 1}, {"p50_ms", "p50 ms", 1},           {"p95_ms", "p95 ms", 1},
                          {"p99_ms", "p99 ms", 1},           {"slo_violation_rate", "SLO viol. %", 100},
                          {"median_chain_slo_violation_rate", "median chain SLO viol. %", 100},
                          {"mean_instances", "mean inst.", 1}, {"cpu_seconds", "CPU-s", 1},
                          {"cold_starts", "cold starts", 1}, {"jain_fairness", "Jain", 1},
                          {"slo_attainment", "SLO att. %", 100},
                          {"unplaced", "unplaced inst.", 1}};
      for (const auto& wl : e.workloads) {
        md << "## " << wl.name << "\n\n| policy |";
        for (const auto& c : cols)
          md << ' ' << c.title << " |";
        md << "\n|---|";
        for (size_t k = 0; k < std::size(cols); ++k)
          md << "---:|";
        md << '\n';
        for (const auto& p : e.policies) {
          md << "| " << p.name << " |";
          for (const auto& c : cols) {
            const interval s = over_seeds(runs, p.name, wl.name, c.metric);
            md << ' ' << fmt(s.mean * c.scale);
            if (s.defined() && s.half_width > 0)
              md << " ± " << fmt(s.half_width * c.scale);
            md << " |";
          }
          md << '\n';
        }
        md << '\n';
        if (files.plotted) {
          const std::string ws = slug(wl.name);
          md << "![latency CDF](latency_cdf_" << ws << "." << ext << ") ![instances](instances_"
             << ws << "." << ext << ") ![allocation](allocation_" << ws << "." << ext << ")\n\n";
        }
      }
      if (!claims.empty()) {
        auto range = [](double lo, double hi) { return "[" + percent(lo) + ", " + percent(hi) + "]"; };
        auto with_interval = [](const interval& i) {
          return fmt(i.mean) + (i.defined() ? " ± " + fmt(i.half_width) : std::string());
        };
        md << "## Published claims\n\n"
           << "| claim | workload | metric | policy | baseline | measured change [95 % CI] | "
              "published | verdict | published size | SLO attainment policy / baseline | seeds |\n"
           << "|---|---|---|---|---|---:|---|---|---|---:|---:|\n";
        bool under = false;
        for (const auto& c : claims) {
          under = under || c.under_sampled;
          md << "| " << c.claim->name << " | " << c.workload << " | " << c.claim->metric << " | "
             << c.claim->policy << " " << with_interval(c.policy) << " | " << c.claim->baseline
             << " " << with_interval(c.baseline) << " | " << percent(c.measured_change) << ' '
             << range(c.change_lo, c.change_hi) << " | "
             << (c.claim->has_published_size ? percent(c.claim->published_change)
                                             : std::string(c.claim->published_change > 0
                                                             ? "increase"
                                                             : "decrease"))
             << (c.claim->published.empty() ? "" : " (" + c.claim->published + ")") << " | "
             << c.verdict << " | " << c.published_size << " | "
             << fmt(c.policy_slo_attainment.mean * 100) << " % / "
             << fmt(c.baseline_slo_attainment.mean * 100) << " % | " << c.difference.n
             << (c.under_sampled ? " (too few)" : "") << " |\n";
        }
        md << "\nThe change is the mean of the per-seed differences (policy - baseline, the same "
              "arrivals for both) over the baseline's mean; its interval is the 95 % Student t "
              "interval of those paired differences, scaled the same way. \"holds\": the interval "
              "excludes no change on the claimed side; \"does not hold\": it excludes no change "
              "on the other side; \"inconclusive\": it contains no change. \"published size\" "
              "places the published figure against the interval.\n";
        if (under)
          md << "\nClaims marked \"too few\" rest on fewer than " << min_claim_seeds
             << " seeds: run more (--seed, or `seeds:` in the file) before quoting them.\n";
      }
      if (!files.plotted)
        md << "\nNo plots: " << files.plot_note << ".\n";
    }
  } catch (const core::error& err) {
    return err;
  }
  files.written = std::move(w.written());
  return files;
}

} // namespace spry::policies::lab
