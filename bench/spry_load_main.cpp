// spry-load: a closed-loop HTTP load generator that reports throughput and latency percentiles.
//
//   spry-load --port 8080 --path /hello --body 'hello spry' --connections 8 --duration 5s
#include "bench/load/http_load.hpp"
#include "core/config.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

int main(int argc, char** argv) {
  CLI::App cli{"spry-load: closed-loop HTTP load (N keep-alive connections, each sends, waits, "
               "repeats); prints requests/s and latency percentiles"};
  spry::bench::load_options o;
  std::string duration = "5s", warmup = "500ms";
  cli.add_option("--host", o.host, "Server IP address")->capture_default_str();
  cli.add_option("--port", o.port, "Server port")->required();
  cli.add_option("--method", o.method, "HTTP method")->capture_default_str();
  cli.add_option("--path", o.path, "Request target")->capture_default_str();
  cli.add_option("--body", o.body, "Request body");
  cli.add_option("--connections,-c", o.connections, "Concurrent connections (virtual users)")
    ->capture_default_str();
  cli.add_option("--duration,-d", duration, "Measured duration (e.g. 5s, 500ms)")->capture_default_str();
  cli.add_option("--warmup", warmup, "Unmeasured warm-up before the duration")->capture_default_str();
  cli.add_option("--requests,-n", o.max_requests, "Stop after this many requests (0 = no limit)");
  CLI11_PARSE(cli, argc, argv);
  auto d = spry::core::parse_duration_ms(duration);
  auto w = spry::core::parse_duration_ms(warmup);
  if (!d || !w) {
    std::cerr << "spry-load: " << (!d ? d.err().message : w.err().message) << "\n";
    return 2;
  }
  o.duration = std::chrono::milliseconds(*d);
  o.warmup = std::chrono::milliseconds(*w);
  auto r = spry::bench::run_load(o);
  if (!r) {
    std::cerr << "spry-load: " << r.err().message << "\n";
    return 2;
  }
  std::printf("%s\n", r->summary().c_str());
  return r->ok() > 0 ? 0 : 1;
}
