#include "bench/report/sweep.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <sstream>

namespace spry::bench {

namespace fs = std::filesystem;

namespace {

struct row {
  unsigned value = 0;
  double rps = 0, p50_ms = 0, p99_ms = 0, cpu_us = 0;
  uint64_t errors = 0;
};

std::string num(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

} // namespace

double slope(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = std::min(x.size(), y.size());
  if (n < 2)
    return 0;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i)
    mx += x[i], my += y[i];
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; ++i)
    sxy += (x[i] - mx) * (y[i] - my), sxx += (x[i] - mx) * (x[i] - mx);
  return sxx > 0 ? sxy / sxx : 0;
}

core::expected<std::string> write_sweep(const std::vector<sweep_point>& points, sweep_axis axis,
                                        const report_options& opts) {
  const bool chains = axis == sweep_axis::chain_length;
  const std::string column = chains ? "functions" : "connections";
  const std::string axis_label = chains ? "functions in the chain" : "concurrent connections";
  // Rows per setup, in the setups' order, for the concurrencies at which the setup ran.
  std::vector<std::string> order;
  std::map<std::string, std::vector<row>> by_setup;
  for (const auto& p : points)
    for (const auto& r : p.results) {
      if (!by_setup.count(r.config.name))
        order.push_back(r.config.name);
      auto& rows = by_setup[r.config.name];
      if (!r.ran)
        continue;
      row x;
      x.value = p.value;
      x.rps = r.load.requests_per_second();
      x.p50_ms = r.load.latency_ns.percentile(0.5) / 1e6;
      x.p99_ms = r.load.latency_ns.percentile(0.99) / 1e6;
      x.cpu_us = r.cpu_per_request() * 1e6;
      x.errors = r.load.errors();
      rows.push_back(x);
    }
  std::error_code ec;
  fs::create_directories(opts.dir, ec);
  if (ec)
    return core::make_error("cannot create " + opts.dir + ": " + ec.message());
  auto path = [&](const std::string& f) { return (fs::path(opts.dir) / f).string(); };

  std::ofstream csv(path("sweep.csv"));
  csv << "setup," << column << ",requests_per_second,p50_ms,p99_ms,cpu_us_per_request,errors\n";
  for (const auto& name : order)
    for (const auto& x : by_setup[name])
      csv << name << "," << x.value << "," << x.rps << "," << x.p50_ms << "," << x.p99_ms
          << "," << x.cpu_us << "," << x.errors << "\n";
  if (!csv)
    return core::make_error("cannot write " + path("sweep.csv"));

  // -- one plot per setup ------------------------------------------------------------------------
  const bool svg = opts.plot_format == "svg";
  const std::string ext = svg ? ".svg" : ".png";
  std::vector<std::string> scripts;
  for (const auto& name : order) {
    const auto& rows = by_setup[name];
    if (rows.empty())
      continue;
    const std::string stem = "sweep-" + file_safe(name);
    {
      std::ofstream d(path(stem + ".dat"));
      d << "# " << column << " req/s p50_ms p99_ms cpu_us_per_request\n";
      for (const auto& x : rows)
        d << x.value << " " << x.rps << " " << x.p50_ms << " " << x.p99_ms << " " << x.cpu_us
          << "\n";
    }
    std::ofstream g(path(stem + ".gp"));
    g << (svg ? "set terminal svg size 700,900 dynamic font 'sans,11'\n"
              : "set terminal pngcairo size 700,900 font 'sans,10'\n")
      << "set output '" << stem << ext << "'\n"
      << "set multiplot layout 3,1 title "
      << gnuplot_quote(opts.title + " on " + name + ": cost as " +
                       (chains ? "the chain grows" : "concurrency grows")) << "\n"
      << (chains ? "set xtics 1\n" : "set logscale x 2\n") << "set grid\nset key top left\n"
      << "set xlabel '" << axis_label << "'\n"
      << "set ylabel 'requests/s'\nset yrange [0:*]\n"
      << "plot '" << stem << ".dat' using 1:2 with linespoints title 'req/s'\n"
      << "set ylabel 'latency (ms)'\nset logscale y\nset yrange [*:*]\n"
      << "plot '" << stem << ".dat' using 1:3 with linespoints title 'p50', '' using 1:4 with "
         "linespoints title 'p99'\n"
      << "unset logscale y\nset ylabel 'CPU us per request'\nset yrange [0:*]\n"
      << "plot '" << stem << ".dat' using 1:5 with linespoints title 'CPU per request (tree)'\n"
      << "unset multiplot\n";
    scripts.push_back(stem + ".gp");
  }
  const std::string plot_note = scripts.empty() ? std::string() : run_gnuplot(opts.dir, scripts);

  // -- sweep.md ----------------------------------------------------------------------------------
  std::ostringstream md;
  md << "## " << opts.title << ": " << (chains ? "chain length" : "concurrency") << " sweep\n\n";
  md << "| setup | " << column << " | req/s | p50 ms | p99 ms | CPU us/req | errors |\n"
     << "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& name : order) {
    const auto& rows = by_setup[name];
    if (rows.empty())
      md << "| " << name << " | - | skipped | | | | |\n";
    for (const auto& x : rows)
      md << "| " << name << " | " << x.value << " | " << num("%.0f", x.rps) << " | "
         << num("%.3f", x.p50_ms) << " | " << num("%.3f", x.p99_ms) << " | "
         << num("%.1f", x.cpu_us) << " | " << x.errors << " |\n";
  }
  if (chains) {
    // What one more function costs: the slope over the points, per setup.
    md << "\n| setup | p50 latency per added function, us | CPU per request per added function, us |\n"
       << "| --- | ---: | ---: |\n";
    for (const auto& name : order) {
      std::vector<double> n, p50, cpu;
      for (const auto& x : by_setup[name])
        n.push_back(x.value), p50.push_back(x.p50_ms * 1e3), cpu.push_back(x.cpu_us);
      if (n.size() >= 2)
        md << "| " << name << " | " << num("%.1f", slope(n, p50)) << " | "
           << num("%.1f", slope(n, cpu)) << " |\n";
    }
  }
  md << "\nPlots: " << (scripts.empty() ? "none (no setup ran)" : "sweep-SETUP" + ext + ", one per setup")
     << ". Each point's full report is in " << (chains ? "chain<N>/" : "c<N>/") << ".";
  if (!plot_note.empty())
    md << " " << plot_note;
  md << "\n";
  std::ofstream(path("sweep.md")) << md.str();
  return md.str();
}

} // namespace spry::bench
