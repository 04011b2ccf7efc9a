// hello_bench: requests/s and latency of the hello chain, side by side with baselines measured
// in the same run on the same gateway, so the ratios hold even on a noisy machine:
//
//   healthz  GET /healthz      the HTTP floor: Beast + gateway, no pool, no chain
//   echo     POST /echo        a 1-function chain (pool buffer, one hop out, one hop back)
//   hello    POST /hello       the 2-function hello chain (upper -> count)
//
// Rounds alternate between the targets (A B C A B C ...) so drift hits all of them alike; the
// table reports the median round of each.
#include "bench/load/http_load.hpp"
#include "core/app.hpp"
#include "core/config.hpp"
#include "core/runtime.hpp"
#include "examples/hello/hello_functions.hpp"
#include "gateway/server.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <vector>

using namespace spry;

namespace {

struct target {
  const char* name;
  const char* method;
  const char* path;
  std::vector<bench::load_result> rounds;
};

const bench::load_result& median_round(target& t) {
  std::sort(t.rounds.begin(), t.rounds.end(), [](const auto& a, const auto& b) {
    return a.requests_per_second() < b.requests_per_second();
  });
  return t.rounds[t.rounds.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  CLI::App cli{"hello_bench: the hello chain vs. the gateway's own floor, side by side"};
  std::string transport = "local", duration = "2s", body = "hello spry, hello edge";
  unsigned connections = 8, rounds = 3, io_threads = 1, workers = 1;
  cli.add_option("--transport", transport, "Transport for the chain")->capture_default_str();
  cli.add_option("--connections,-c", connections, "Concurrent closed-loop connections")->capture_default_str();
  cli.add_option("--duration,-d", duration, "Duration of each round")->capture_default_str();
  cli.add_option("--rounds,-r", rounds, "Rounds per target (median reported)")->capture_default_str();
  cli.add_option("--io-threads", io_threads, "Gateway HTTP threads")->capture_default_str();
  cli.add_option("--workers", workers, "Actor scheduler threads")->capture_default_str();
  cli.add_option("--body", body, "Request body")->capture_default_str();
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  auto d = core::parse_duration_ms(duration);
  if (!d) {
    std::cerr << "hello_bench: " << d.err().message << "\n";
    return 2;
  }

  core::app app("hello-bench");
  app.function("upper", hello::uppercase{});
  app.function("count", hello::count{});
  app.function("echo", [](core::message&) {});
  app.chain("hello").http("POST", "/hello").then("upper").then("count");
  app.chain("echo").http("POST", "/echo").then("echo");
  app.transport(transport).listen("127.0.0.1", 0);
  app.spec().gateway.io_threads = io_threads;
  app.spec().worker_threads = workers;
  auto srv = gateway::server::start(app.spec(), app.functions());
  if (!srv) {
    std::cerr << "hello_bench: " << srv.err().message << "\n";
    return 1;
  }

  std::vector<target> targets = {{"healthz", "GET", "/healthz", {}},
                                 {"echo", "POST", "/echo", {}},
                                 {"hello", "POST", "/hello", {}}};
  std::printf("hello_bench: transport %s, %u connections, %u x %s rounds per target, gateway "
              "io_threads %u, workers %u\n",
              transport.c_str(), connections, rounds, duration.c_str(), io_threads, workers);
  for (unsigned r = 0; r < rounds; ++r)
    for (auto& t : targets) {
      bench::load_options o;
      o.port = (*srv)->port();
      o.method = t.method;
      o.path = t.path;
      o.body = t.method == std::string("GET") ? "" : body;
      o.connections = connections;
      o.duration = std::chrono::milliseconds(*d);
      o.warmup = std::chrono::milliseconds(300);
      auto res = bench::run_load(o);
      if (!res) {
        std::cerr << "hello_bench: " << res.err().message << "\n";
        return 1;
      }
      if (res->ok() == 0 || res->transport_errors > 0 || res->by_status.size() != 1) {
        std::cerr << "hello_bench: " << t.name << " failed: " << res->summary() << "\n";
        return 1;
      }
      t.rounds.push_back(std::move(*res));
    }

  const auto& base = median_round(targets[0]);
  std::printf("\n%-8s %12s %10s %10s %10s %10s %14s %14s\n", "target", "req/s", "p50 us",
              "p90 us", "p99 us", "max us", "req/s ratio", "p50 ratio");
  for (auto& t : targets) {
    const auto& m = median_round(t);
    std::printf("%-8s %12.0f %10.1f %10.1f %10.1f %10.1f %14.3f %14.3f\n", t.name,
                m.requests_per_second(), m.latency_ns.percentile(0.5) / 1e3,
                m.latency_ns.percentile(0.9) / 1e3, m.latency_ns.percentile(0.99) / 1e3,
                m.latency_ns.max() / 1e3, m.requests_per_second() / base.requests_per_second(),
                static_cast<double>(m.latency_ns.percentile(0.5)) / base.latency_ns.percentile(0.5));
  }
  auto& rt = (*srv)->runtime();
  uint32_t in_use = 0;
  for (auto& p : rt.pools())
    in_use += p.stats().in_use;
  std::printf("\npool buffers still in use after the run: %u (must be 0)\n", in_use);
  (*srv)->stop(2000);
  return in_use == 0 ? 0 : 1;
}
