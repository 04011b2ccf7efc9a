// xdp_bench: tcp.xdp_tc_redirect off vs on, in one run, on the same workload (the hello chain on
// transport tcp with tcp.namespaces: gateway and instances in pods, load from the client node's
// namespace, so every request crosses the root namespace twice on the way in and out: client ->
// gateway pod, gateway pod <-> instance pods with broker routing).
//
// Rounds alternate off, on, off, on ... so drift on a shared machine hits both alike; the table
// shows the median round of each mode. Per round: requests/s, p50/p99 latency, kernel CPU per
// request of the whole machine (system + irq + softirq from /proc/stat: the host stack's
// forwarding, netfilter and the pods' TCP stacks; cycles need perf hardware counters, which
// virtual machines often lack), CPU of the spry process tree per request, and the frames the
// programs redirected per request.
//
// Next to it, the primitive under it (--hop): 64-byte ping-pong over one TCP connection between
// two pods (pod -> host veth -> root namespace -> host veth -> pod and back), the same pod network
// spry builds, without spry: the forwarding path's own latency and kernel CPU per round trip.
//
// Needs root. Not a test: it asserts nothing, it prints Markdown tables.
#include "bench/load/child_process.hpp"
#include "bench/load/http_load.hpp"
#include "core/latency_histogram.hpp"
#include "transports/tcp/pod_network.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;

namespace {

struct round_result {
  bool redirect = false;
  double rps = 0;
  double p50_us = 0, p99_us = 0;
  double kernel_us_per_req = 0; // whole machine: system + irq + softirq
  double tree_us_per_req = 0;   // spry gateway + instances: user + system
  double redirected_per_req = 0;
  uint64_t errors = 0;
};

double thread_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Sum over CPUs of system + irq + softirq jiffies (the "cpu" line of /proc/stat).
double kernel_seconds() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  uint64_t user, nice, system, idle, iowait, irq, softirq;
  f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq;
  return static_cast<double>(system + irq + softirq) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::optional<round_result> run_round(const std::string& spry, const std::string& app, bool redirect,
                                      const spry::bench::load_options& base) {
  std::vector<std::string> argv{spry, "run", app, "--transport", "tcp", "--listen",
                                "127.0.0.1:0", "--namespaces", "--log-level", "warn"};
  if (redirect)
    argv.insert(argv.end(), {"--xdp-tc-redirect", "on"});
  spry::bench::child_process p(argv);
  auto line = p.wait_for_line("listening on http://", 60s);
  std::smatch m;
  if (!line || !std::regex_search(*line, m, std::regex(R"((10\.213\.\d+\.\d+):(\d+))"))) {
    std::cerr << "xdp_bench: spry did not start (see its stderr above)\n";
    return std::nullopt;
  }
  auto opts = base;
  opts.host = m[1];
  opts.port = static_cast<uint16_t>(std::stoul(m[2]));
  auto pods = p.wait_for_line("spry: pods:", 5s);
  if (!pods || !std::regex_search(*pods, m, std::regex(R"(clients from namespace (\S+))"))) {
    std::cerr << "xdp_bench: spry printed no pods line\n";
    return std::nullopt;
  }
  const std::string client_ns = m[1];
  double k0 = 0, t0 = 0;
  opts.on_measure_start = [&] {
    k0 = kernel_seconds();
    t0 = spry::bench::tree_cpu_seconds(p.pid());
  };
  std::optional<spry::core::expected<spry::bench::load_result>> res;
  double k1 = 0, t1 = 0;
  // The load generator is a client outside the node: it runs in the client node's namespace.
  std::thread load([&] {
    const int fd = ::open(("/run/netns/" + client_ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0)
      return;
    ::close(fd);
    res = spry::bench::run_load(opts);
    k1 = kernel_seconds();
    t1 = spry::bench::tree_cpu_seconds(p.pid());
  });
  load.join();
  if (!res || !*res) {
    std::cerr << "xdp_bench: load failed: " << (res ? res->err().message : "cannot enter " + client_ns)
              << "\n";
    return std::nullopt;
  }
  p.stop(SIGTERM, 20s);
  uint64_t redirected = 0;
  if (auto c = p.wait_for_line("xdp_tc_redirect counters:", 5s);
      c && std::regex_search(*c, m, std::regex(R"(redirected=(\d+))")))
    redirected = std::stoull(m[1]);
  const auto& r = **res;
  round_result out;
  out.redirect = redirect;
  out.rps = r.requests_per_second();
  out.p50_us = r.latency_ns.percentile(0.50) / 1000.0;
  out.p99_us = r.latency_ns.percentile(0.99) / 1000.0;
  const double n = std::max<double>(1, static_cast<double>(r.ok()));
  out.kernel_us_per_req = (k1 - k0) * 1e6 / n;
  out.tree_us_per_req = (t1 - t0) * 1e6 / n;
  // The counters cover the whole run (warm-up and start-up included): per request of all sent.
  out.redirected_per_req = static_cast<double>(redirected) /
                           std::max<double>(1, static_cast<double>(r.ok() + r.errors()));
  out.errors = r.errors();
  std::fprintf(stderr, "xdp_bench: redirect %-3s %s\n", redirect ? "on" : "off", r.summary().c_str());
  return out;
}

struct hop_result {
  bool redirect = false;
  double p50_us = 0, p99_us = 0, mean_us = 0;
  double kernel_us_per_rt = 0;
  double threads_us_per_rt = 0; // client + server thread, user + system (softirq charged to them)
  double redirected_per_rt = 0;
};

// Ping-pong between pods e1 (server) and e2 (client) of a fresh pod network.
std::optional<hop_result> run_hop(bool redirect, unsigned round_trips) {
  auto net = spry::transports::tcp::pod_network::create({redirect});
  if (!net) {
    std::cerr << "xdp_bench: " << net.err().message << "\n";
    return std::nullopt;
  }
  auto server_pod = (*net)->open(1);
  auto client_pod = (*net)->open(2);
  if (!server_pod || !client_pod)
    return std::nullopt;
  // CPU of the two threads themselves (RUSAGE_THREAD): veth and forwarding work runs in softirq
  // on the sending thread's CPU and is charged to it, so this sees the host path's cost without
  // the noise of other tenants that /proc/stat includes.
  double server_cpu_per_rt = 0, client_cpu_per_rt = 0;
  std::thread server([fd = server_pod->listen_fd, &server_cpu_per_rt] {
    const int c = accept(fd, nullptr, nullptr);
    if (c < 0)
      return;
    char buf[64];
    const double cpu0 = thread_cpu_seconds();
    uint64_t trips = 0;
    struct report {
      const double& cpu0;
      uint64_t& trips;
      double& out;
      ~report() { out = trips ? (thread_cpu_seconds() - cpu0) * 1e6 / static_cast<double>(trips) : 0; }
    } r{cpu0, trips, server_cpu_per_rt};
    for (;; ++trips) {
      size_t got = 0;
      while (got < sizeof buf) {
        const ssize_t n = recv(c, buf + got, sizeof buf - got, 0);
        if (n <= 0)
          return (void)::close(c);
        got += static_cast<size_t>(n);
      }
      if (send(c, buf, sizeof buf, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof buf))
        return (void)::close(c);
    }
  });
  hop_result out;
  out.redirect = redirect;
  spry::core::latency_histogram h;
  const auto before = (*net)->counters().redirected;
  double k0 = 0, k1 = 0;
  std::thread client([&] {
    if (setns(client_pod->netns_fd, CLONE_NEWNET) != 0)
      return;
    const auto colon = server_pod->address.rfind(':');
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::stoul(server_pod->address.substr(colon + 1))));
    inet_pton(AF_INET, server_pod->address.substr(0, colon).c_str(), &a.sin_addr);
    const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      return (void)::close(s);
    char buf[64] = {};
    auto trip = [&] {
      if (send(s, buf, sizeof buf, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof buf))
        return false;
      size_t got = 0;
      while (got < sizeof buf) {
        const ssize_t n = recv(s, buf + got, sizeof buf - got, 0);
        if (n <= 0)
          return false;
        got += static_cast<size_t>(n);
      }
      return true;
    };
    for (unsigned i = 0; i < 1000; ++i) // warm-up: neighbours resolved, caches warm
      if (!trip())
        return (void)::close(s);
    k0 = kernel_seconds();
    const double cpu0 = thread_cpu_seconds();
    for (unsigned i = 0; i < round_trips; ++i) {
      const auto t = std::chrono::steady_clock::now();
      if (!trip())
        break;
      h.record(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::steady_clock::now() - t)
                                       .count()));
    }
    k1 = kernel_seconds();
    client_cpu_per_rt = (thread_cpu_seconds() - cpu0) * 1e6 / static_cast<double>(std::max<uint64_t>(1, h.count()));
    ::close(s);
  });
  client.join();
  server.join();
  ::close(server_pod->listen_fd);
  ::close(client_pod->listen_fd);
  if (h.count() == 0) {
    std::cerr << "xdp_bench: the pods could not reach each other\n";
    return std::nullopt;
  }
  const double n = static_cast<double>(h.count());
  out.p50_us = h.percentile(0.50) / 1000.0;
  out.p99_us = h.percentile(0.99) / 1000.0;
  out.mean_us = h.mean() / 1000.0;
  out.kernel_us_per_rt = (k1 - k0) * 1e6 / n;
  out.threads_us_per_rt = server_cpu_per_rt + client_cpu_per_rt;
  out.redirected_per_rt = static_cast<double>((*net)->counters().redirected - before) / n;
  return out;
}

round_result median(std::vector<round_result> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.rps < b.rps; });
  return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  CLI::App cli{"xdp_bench: transport tcp in pods, xdp_tc_redirect off vs on, side by side"};
  std::string spry = "spry", app = "examples/hello/hello.yaml";
  unsigned rounds = 3, connections = 8, seconds = 10;
  cli.add_option("--spry", spry, "The spry binary");
  cli.add_option("--app", app, "App file (its first chain is POSTed to)");
  std::string path = "/hello", body = "hello from the client node";
  cli.add_option("--target", path, "Path to POST to");
  cli.add_option("--rounds", rounds, "Rounds per mode (alternating)");
  cli.add_option("--connections", connections, "Closed-loop connections");
  cli.add_option("--seconds", seconds, "Measured seconds per round");
  unsigned hop_round_trips = 20000;
  cli.add_option("--hop", hop_round_trips, "Pod-to-pod ping-pong round trips per round (0: skip)");
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn); // the pod network's info lines would cut the tables
  if (geteuid() != 0) {
    std::cerr << "xdp_bench: needs root (network namespaces, iptables, eBPF); did not run\n";
    return 2;
  }
  spry::bench::load_options base;
  base.method = "POST";
  base.path = path;
  base.body = body;
  base.mode = spry::bench::load_mode::closed;
  base.connections = connections;
  base.duration = std::chrono::seconds(seconds);
  base.warmup = 1s;
  std::vector<round_result> off, on;
  for (unsigned i = 0; i < rounds; ++i)
    for (bool redirect : {false, true}) {
      auto r = run_round(spry, app, redirect, base);
      if (!r)
        return 1;
      (redirect ? on : off).push_back(*r);
    }
  if (hop_round_trips > 0) {
    std::vector<hop_result> hop_off, hop_on;
    for (unsigned i = 0; i < rounds; ++i)
      for (bool redirect : {false, true}) {
        auto h = run_hop(redirect, hop_round_trips);
        if (!h)
          return 1;
        (redirect ? hop_on : hop_off).push_back(*h);
      }
    auto mid = [](std::vector<hop_result> v) {
      std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.p50_us < b.p50_us; });
      return v[v.size() / 2];
    };
    std::printf("\nPod-to-pod TCP ping-pong, 64 B, %u round trips per round:\n\n"
                "| xdp_tc_redirect | RTT p50 us | RTT p99 us | RTT mean us | CPU us/round trip of the "
                "two threads | kernel CPU us/round trip (machine) | redirected frames/round trip "
                "|\n|---|---|---|---|---|---|---|\n",
                hop_round_trips);
    for (const auto& h : {mid(hop_off), mid(hop_on)})
      std::printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f |\n", h.redirect ? "on" : "off",
                  h.p50_us, h.p99_us, h.mean_us, h.threads_us_per_rt, h.kernel_us_per_rt,
                  h.redirected_per_rt);
  }
  double load[3] = {};
  if (std::ifstream la("/proc/loadavg"); la)
    la >> load[0] >> load[1] >> load[2];
  const auto a = median(off), b = median(on);
  std::printf("\nThe hello chain on tcp in pods (client node -> gateway pod -> instance pods), "
              "closed loop:\n\n| xdp_tc_redirect | req/s | p50 us | p99 us | kernel CPU us/req (machine) | "
              "spry CPU us/req | redirected frames/req | errors |\n|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : {a, b})
    std::printf("| %s | %.0f | %.0f | %.0f | %.1f | %.1f | %.2f | %llu |\n", r.redirect ? "on" : "off",
                r.rps, r.p50_us, r.p99_us, r.kernel_us_per_req, r.tree_us_per_req,
                r.redirected_per_req, static_cast<unsigned long long>(r.errors));
  std::printf("\non/off: %.2fx req/s, p50 %.0f -> %.0f us, kernel CPU/req %.1f -> %.1f us. "
              "Median of %u rounds of %u s each, %u connections, %u CPUs, load average %.2f %.2f "
              "%.2f at the end.\n",
              a.rps > 0 ? b.rps / a.rps : 0, a.p50_us, b.p50_us, a.kernel_us_per_req,
              b.kernel_us_per_req, rounds, seconds, connections,
              static_cast<unsigned>(std::thread::hardware_concurrency()), load[0], load[1], load[2]);
  return 0;
}
