#include "policies/lab/lab_main.hpp"

#include "policies/lab/azure_trace.hpp"
#include "policies/lab/experiment.hpp"
#include "policies/lab/report.hpp"
#include "policies/lab/simulator.hpp"

#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

namespace spry::policies::lab {

namespace {

struct job {
  size_t policy;
  size_t workload;
  uint64_t seed;
};

void list_everything(const policy_registries& r) {
  auto line = [](const char* what, const std::vector<std::string>& names) {
    std::cout << what << ':';
    for (const auto& n : names)
      std::cout << ' ' << n;
    std::cout << '\n';
  };
  line("load balancers", r.load_balancers.names());
  line("autoscalers", r.autoscalers.names());
  line("placement engines", r.placements.names());
  line("workload kinds", {"poisson", "on_off", "mmpp", "diurnal", "periodic_burst", "published",
                          "azure", "azure_synthetic", "mix"});
  line("metrics", metric_names());
}

} // namespace

int lab_main(int argc, char** argv) {
  CLI::App app{"spry policy lab: compare load balancers, autoscalers and placement engines on "
               "simulated clusters, deterministically (same seed, same result)"};
  std::string file, out_dir, format;
  size_t jobs = 1;
  double duration = 0;
  std::vector<uint64_t> seeds;
  bool no_plots = false, quiet = false, list = false;
  std::string synth_file;
  size_t synth_functions = 100;
  uint64_t synth_seed = 1;
  app.add_option("experiment", file, "experiment YAML file (see policies/lab/README.md)");
  app.add_option("-o,--out", out_dir, "output directory (default: lab-results/<experiment name>)");
  app.add_option("-j,--jobs", jobs, "runs in parallel (default 1)")->check(CLI::Range(1, 256));
  app.add_option("--seed", seeds, "run only these seeds instead of the file's");
  app.add_option("--duration", duration, "override duration_s (quick looks; warm-up is kept "
                                         "below it)")->check(CLI::PositiveNumber);
  app.add_option("--format", format, "plot format, png or svg (default: the file's, else png)")
    ->check(CLI::IsMember({"png", "svg"}));
  app.add_flag("--no-plots", no_plots, "write no plots (CSV, JSON and Markdown only)");
  app.add_flag("-q,--quiet", quiet, "no progress lines");
  app.add_flag("--list", list, "list the registered policies, workload kinds and metrics");
  app.add_option("--synthesize-azure", synth_file,
                 "write a synthetic trace in the Azure Functions per-minute format to this file "
                 "and exit");
  app.add_option("--functions", synth_functions, "functions in the synthetic trace")
    ->check(CLI::Range(size_t{1}, size_t{10000000}));
  app.add_option("--trace-seed", synth_seed, "seed of the synthetic trace");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  policy_registries registries;
  register_all(registries);
  if (list) {
    list_everything(registries);
    return 0;
  }
  if (!synth_file.empty()) {
    auto ok = write_azure_trace(synthesize_azure_trace(synth_functions, synth_seed), synth_file);
    if (!ok) {
      std::cerr << "spry lab: " << ok.err().message << '\n';
      return 1;
    }
    std::cerr << "spry lab: wrote " << synth_functions << " functions x 1440 minutes to "
              << synth_file << '\n';
    return 0;
  }
  if (file.empty()) {
    std::cerr << "spry lab: give an experiment file (see --help)\n";
    return 2;
  }

  auto exp = read_experiment(file, registries);
  if (!exp) {
    std::cerr << "spry lab: " << exp.err().message << '\n';
    return 2;
  }
  experiment& e = *exp;
  if (duration > 0) {
    e.options.duration_s = duration;
    e.options.warmup_s = std::min(e.options.warmup_s, duration / 2);
  }
  if (!seeds.empty())
    e.seeds = seeds;
  if (!format.empty())
    e.plot_format = format;
  if (out_dir.empty())
    out_dir = (std::filesystem::path("lab-results") / e.name).string();

  std::vector<job> todo;
  for (size_t w = 0; w < e.workloads.size(); ++w)
    for (size_t p = 0; p < e.policies.size(); ++p)
      for (uint64_t s : e.seeds)
        todo.push_back({p, w, s});
  if (!quiet)
    std::cerr << "spry lab: " << e.name << ": " << e.policies.size() << " policies x "
              << e.workloads.size() << " workloads x " << e.seeds.size() << " seeds = "
              << todo.size() << " runs of " << e.options.duration_s << " s on " << e.nodes.size()
              << " nodes\n";

  std::vector<run_record> records(todo.size());
  std::vector<std::string> errors(todo.size());
  std::atomic<size_t> next{0}, done{0};
  std::mutex print;
  auto worker = [&] {
    for (size_t k; (k = next++) < todo.size();) {
      const job& j = todo[k];
      const auto t0 = std::chrono::steady_clock::now();
      auto model = build_workload(e.workloads[j.workload], j.seed, e.options.duration_s);
      if (!model) {
        errors[k] = model.err().message;
        continue;
      }
      sim_options o = e.options;
      o.seed = j.seed;
      // A copy per run: reading parameters records which were asked for, so a policy_spec must
      // not be shared between threads.
      const policy_spec policy = e.policies[j.policy];
      auto r = simulate(e.nodes, std::move(*model), policy, registries, o);
      const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!r) {
        errors[k] = r.err().message;
        continue;
      }
      records[k] = run_record{e.policies[j.policy].name, e.workloads[j.workload].name, j.seed,
                              std::move(*r), wall};
      const size_t n = ++done;
      if (!quiet) {
        std::lock_guard<std::mutex> lock(print);
        const auto& res = records[k].result;
        std::fprintf(stderr,
                     "[%zu/%zu] %s / %s / seed %llu: %.2f s wall, %llu requests, p99 %.1f ms, "
                     "SLO violations %.2f%%, mean instances %.1f\n",
                     n, todo.size(), records[k].policy.c_str(), records[k].workload.c_str(),
                     static_cast<unsigned long long>(j.seed), wall,
                     static_cast<unsigned long long>(res.requests), res.p99_ms,
                     res.slo_violation_rate * 100, res.mean_instances);
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < std::min(jobs, todo.size()); ++t)
    threads.emplace_back(worker);
  worker();
  for (auto& t : threads)
    t.join();
  for (size_t k = 0; k < todo.size(); ++k) {
    if (!errors[k].empty()) {
      std::cerr << "spry lab: " << e.policies[todo[k].policy].name << " / "
                << e.workloads[todo[k].workload].name << " / seed " << todo[k].seed << ": "
                << errors[k] << '\n';
      return 1;
    }
  }

  auto files = write_report(e, records, out_dir, !no_plots && e.plots);
  if (!files) {
    std::cerr << "spry lab: " << files.err().message << '\n';
    return 1;
  }
  if (!quiet) {
    std::cerr << "spry lab: results in " << out_dir << " (summary.md, results.csv, results.json"
              << (files->plotted ? ", plots" : "") << ")\n";
    if (!files->plotted && !no_plots && e.plots)
      std::cerr << "spry lab: no plots: " << files->plot_note << '\n';
  }
  for (const auto& c : evaluate_claims(e, records)) {
    if (quiet)
      continue;
    char published[32];
    if (c.claim->has_published_size)
      std::snprintf(published, sizeof published, "%+.1f%%", c.claim->published_change * 100);
    else
      std::snprintf(published, sizeof published, "%s",
                    c.claim->published_change > 0 ? "increase" : "decrease");
    std::fprintf(stderr,
                 "spry lab: claim %s on %s: %s %+.1f%% [%+.1f%%, %+.1f%%] vs %s over %zu seeds "
                 "(published %s): %s\n",
                 c.claim->name.c_str(), c.workload.c_str(), c.claim->metric.c_str(),
                 c.measured_change * 100, c.change_lo * 100, c.change_hi * 100,
                 c.claim->baseline.c_str(), c.difference.n, published, c.verdict.c_str());
  }
  return 0;
}

} // namespace spry::policies::lab
