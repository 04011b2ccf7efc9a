// cluster_bench: what cluster mode costs, in one run, against a single-machine baseline measured
// in the same run (this kind of machine is shared and noisy: read the ratios, not the absolutes).
//
// Rows (each: closed-loop load on node a's gateway, then one connection for unloaded latency;
// --rounds N runs them N times, a b c d e a b c d e ..., and reports each row's median round):
//
//   a   spry run hello.yaml, shm-skmsg, one machine                       the baseline
//   b   controller + 1 node, shm-skmsg                                     cluster overhead
//   c   controller + 2 nodes, --spread-chains --min-nodes 2, shm-skmsg     the chain split in two
//   d   controller + 3 nodes, a 3-function chain (upper -> upper2 -> count, both upper the same
//       handler of libspry_hello.so: no new C++), --spread-chains --min-nodes 3, shm-skmsg
//   e   controller + 2 nodes, --spread-chains --min-nodes 2, --transport tcp
//
// Every server binds 127.0.0.1 (nodes on distinct ports: they share no memory, their hops go
// over the TCP data link). CPU per request is the sum over every spry process of the setup
// (controller, nodes, their instances; /proc) over the measured window, divided by the 2xx
// answers in it. Cross-node hops per request: the sum over nodes of spry_cross_node_hops_total
// over the run, divided by the ingress node's spry_requests_total over the same run (both from
// /metrics, so warm-up requests are on both sides).
//
// Hop costs (--rows hops): differences of unloaded p50 latency between two setups that differ by
// one hop, both up at once and measured in alternating rounds (see run_pair): c - b prices a
// cross-node round trip, a3 - a an intra-node shm-skmsg hop, t3 - t a tcp-transport hop (a3, t3:
// spry run of the 3-function chain; t: spry run on tcp; bt: a 1-node cluster on tcp).
//
// Faults (--rows fault, fault-stop): a 2-node cluster (--spread-chains --min-nodes 2) under light
// load on node a; SIGKILL (or SIGSTOP: a hung node) node b; time (i) until the controller logs
// `node 'b' lost` (its stderr timestamps) and until a's GET /status shows b alive=false, (ii)
// from detection until a's /status shows b's function ready on a; (iii) count the requests that
// failed or hung (a per-request timeout).
//
// Needs root and BPF for shm-skmsg (scripts/setup). Not a test: it asserts nothing; targets are
// reported as met or not. Every process it starts is stopped by its PID (child_process), also
// when a step fails; instances left behind by a stopped node are reported and killed by PID.
//
//   sudo build/bench/cluster_bench -c 16 -d 5s -r 3
#include "bench/load/child_process.hpp"
#include "bench/load/http_client.hpp"
#include "bench/load/http_load.hpp"
#include "bench/load/proc_stats.hpp"
#include "core/config.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

#if !defined(SPRY_SOURCE_DIR) || !defined(SPRY_BINARY) || !defined(SPRY_HELLO_YAML)
#error "bench/CMakeLists.txt sets SPRY_SOURCE_DIR, SPRY_BINARY and SPRY_HELLO_YAML"
#endif

namespace {

using spry::bench::http_client;
using spry::bench::http_get;
using spry::bench::http_reply;

/// Sum of every sample of `metric` (any labels) whose labels contain `must_contain`.
double metric_sum(const std::string& text, const std::string& metric,
                  const std::string& must_contain = "") {
  double sum = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.compare(0, metric.size(), metric) != 0)
      continue;
    const char next = line.size() > metric.size() ? line[metric.size()] : '\0';
    if (next != '{' && next != ' ')
      continue;
    if (!must_contain.empty() && line.find(must_contain) == std::string::npos)
      continue;
    const auto sp = line.rfind(' ');
    try {
      sum += std::stod(line.substr(sp + 1));
    } catch (const std::exception&) {
    }
  }
  return sum;
}

// -- the processes of one setup ------------------------------------------------------------------

struct spry_process {
  std::string name; ///< "spry", "controller", or the node's name
  std::string stderr_file;
  std::unique_ptr<spry::bench::child_process> proc;
  uint16_t http_port = 0; ///< gateways only
};

/// What a row runs: one `spry run`, or a controller and its nodes. Processes are stopped by
/// their PIDs in reverse start order (nodes before their controller) when this goes away, also
/// on an early return or an exception; any process of their trees still alive then is reported.
class deployment {
public:
  deployment() = default;
  deployment(const deployment&) = delete;
  deployment& operator=(const deployment&) = delete;
  ~deployment() { stop(); }

  std::vector<spry_process>& procs() { return procs_; }
  spry_process* find(const std::string& name) {
    for (auto& p : procs_)
      if (p.name == name)
        return &p;
    return nullptr;
  }
  void add(spry_process p) {
    procs_.push_back(std::move(p));
    note_tree();
  }
  /// Records the process trees (roots and their instances) to check they are gone at the end.
  void note_tree() {
    for (auto& p : procs_)
      if (p.proc && p.proc->running())
        for (pid_t pid : spry::bench::process_tree(p.proc->pid()))
          if (std::find(seen_.begin(), seen_.end(), pid) == seen_.end())
            seen_.push_back(pid);
  }
  /// CPU seconds of every process of the setup (each root and its descendants).
  double cpu_seconds() {
    double s = 0;
    for (auto& p : procs_)
      if (p.proc && p.proc->running())
        s += spry::bench::tree_cpu_seconds(p.proc->pid());
    return s;
  }
  void stop() {
    note_tree();
    for (auto it = procs_.rbegin(); it != procs_.rend(); ++it)
      if (it->proc && !it->proc->stop(SIGTERM, 10s))
        it->proc->stop(SIGKILL, 5s);
    // Instances die with their node (PR_SET_PDEATHSIG, or they notice the closed channel): give
    // them a moment, then say which did not.
    const auto until = steady::now() + 3s;
    std::vector<pid_t> left;
    do {
      left.clear();
      for (pid_t pid : seen_)
        if (spry::bench::alive(pid))
          left.push_back(pid);
      if (!left.empty())
        std::this_thread::sleep_for(50ms);
    } while (!left.empty() && steady::now() < until);
    for (pid_t pid : left) {
      std::fprintf(stderr, "cluster_bench: process %d of a stopped setup is still alive; "
                           "killing it by its PID\n", pid);
      ::kill(pid, SIGKILL);
    }
    seen_.clear();
    procs_.clear();
  }

private:
  std::vector<spry_process> procs_;
  std::vector<pid_t> seen_;
};

struct paths {
  std::string spry, hello_yaml, hello3_yaml, certs, work;
};

std::string tail_of(const std::string& file, size_t bytes = 1500) {
  const auto s = spry::bench::read_file(file);
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

[[noreturn]] void fail(const std::string& what, const spry_process* p = nullptr) {
  std::string msg = what;
  if (p && !p->stderr_file.empty())
    msg += "\n--- stderr of " + p->name + " (" + p->stderr_file + ", kept with --keep-logs), "
           "last lines:\n" + tail_of(p->stderr_file);
  throw std::runtime_error(msg);
}

uint16_t start_single(deployment& d, const paths& ps, const std::string& app,
                      const std::string& transport, const std::string& tag) {
  spry_process p;
  p.name = "spry";
  p.stderr_file = ps.work + "/" + tag + "-spry-run.log";
  p.proc = std::make_unique<spry::bench::child_process>(
    std::vector<std::string>{ps.spry, "run", app, "--transport", transport, "--listen",
                             "127.0.0.1:0", "--log-level", "warn"},
    p.stderr_file);
  const auto listening = p.proc->wait_for_http_port(60s);
  if (!listening)
    fail("spry run " + app + " --transport " + transport + " did not start", &p);
  p.http_port = *listening;
  const uint16_t port = p.http_port;
  d.add(std::move(p));
  return port;
}

struct cluster_shape {
  std::string app;
  std::string transport;
  std::vector<std::string> nodes; ///< names (certificates exist for a, b, c)
  bool spread = false;
  unsigned min_nodes = 0;
};

/// Starts a controller and its nodes (logs: WORK/TAG-*.log).
void start_cluster(deployment& d, const paths& ps, const cluster_shape& s, const std::string& tag) {
  spry_process c;
  c.name = "controller";
  c.stderr_file = ps.work + "/" + tag + "-controller.log";
  std::vector<std::string> argv{ps.spry, "controller", s.app, "--listen", "127.0.0.1:0",
                                "--ca", ps.certs + "/ca.pem", "--cert",
                                ps.certs + "/controller.pem", "--key", ps.certs + "/controller.key",
                                "--log-level", "info"};
  if (s.spread)
    argv.push_back("--spread-chains");
  if (s.min_nodes > 0)
    argv.insert(argv.end(), {"--min-nodes", std::to_string(s.min_nodes)});
  c.proc = std::make_unique<spry::bench::child_process>(argv, c.stderr_file);
  auto line = c.proc->wait_for_line("listening on", 30s);
  std::smatch m;
  if (!line || !std::regex_search(*line, m, std::regex(R"(listening on ([0-9.]+):(\d+))")))
    fail("spry controller did not start", &c);
  const std::string join = std::string(m[1]) + ":" + std::string(m[2]);
  d.add(std::move(c));
  for (const auto& name : s.nodes) {
    spry_process n;
    n.name = name;
    n.stderr_file = ps.work + "/" + tag + "-node-" + name + ".log";
    n.proc = std::make_unique<spry::bench::child_process>(
      std::vector<std::string>{ps.spry, "node", s.app, "--join", join, "--name", name, "--ca",
                               ps.certs + "/ca.pem", "--cert", ps.certs + "/" + name + ".pem",
                               "--key", ps.certs + "/" + name + ".key", "--listen", "127.0.0.1:0",
                               "--data", "127.0.0.1:0", "--transport", s.transport, "--log-level",
                               "info"},
      n.stderr_file);
    const auto listening = n.proc->wait_for_http_port(60s);
    if (!listening)
      fail("spry node " + name + " did not start", &n);
    n.http_port = *listening;
    d.add(std::move(n));
  }
}

/// The cluster as node `port` sees it: GET /status's "cluster" object (null if unreadable).
nlohmann::json cluster_view(uint16_t port, std::chrono::milliseconds timeout = 1s) {
  auto r = http_get(port, "/status", timeout);
  if (r.status != 200)
    return nullptr;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("cluster"))
    return nullptr;
  return j["cluster"];
}

/// "upper@a count@b": where each function has ready instances, as node `port` sees it.
std::string placement_of(const nlohmann::json& view) {
  std::map<std::string, std::string> where;
  if (view.is_object() && view.contains("nodes"))
    for (const auto& n : view["nodes"])
      if (n.value("alive", false) && n.contains("functions"))
        for (auto it = n["functions"].begin(); it != n["functions"].end(); ++it)
          if (it.value().get<int>() > 0)
            where[it.key()] += (where[it.key()].empty() ? "" : "+") + n.value("name", "?");
  std::string s;
  for (const auto& [f, nodes] : where)
    s += (s.empty() ? "" : " ") + f + "@" + nodes;
  return s;
}

/// Waits until `port` sees `nodes` alive nodes and every function of `functions` ready
/// somewhere, then until a request on the chain answers 200.
void wait_ready(deployment& d, uint16_t port, size_t nodes, const std::vector<std::string>& functions,
                const std::string& body) {
  const auto until = steady::now() + 60s;
  std::string last = "no /status";
  for (;;) {
    auto v = cluster_view(port);
    if (v.is_object()) {
      size_t alive = 0;
      for (const auto& n : v.value("nodes", nlohmann::json::array()))
        alive += n.value("alive", false) ? 1 : 0;
      const auto placed = placement_of(v);
      bool all = alive == nodes;
      for (const auto& f : functions)
        all = all && placed.find(f + "@") != std::string::npos;
      last = std::to_string(alive) + " node(s) alive, placement '" + placed + "'";
      if (all)
        break;
    }
    if (steady::now() > until)
      fail("the cluster did not become ready in 60 s: " + last, d.find("controller"));
    std::this_thread::sleep_for(50ms);
  }
  for (;;) {
    http_client c(port);
    auto r = c.request("POST", "/hello", body, 5s);
    if (r.status == 200)
      break;
    if (steady::now() > until)
      fail("POST /hello on the ready cluster answers " + std::to_string(r.status) + " " + r.error +
           ": " + r.body, d.find("controller"));
    std::this_thread::sleep_for(100ms);
  }
  d.note_tree();
}

void wait_single_ready(uint16_t port, const std::string& body) {
  const auto until = steady::now() + 30s;
  for (;;) {
    http_client c(port);
    if (c.request("POST", "/hello", body, 5s).status == 200)
      return;
    if (steady::now() > until)
      throw std::runtime_error("spry run did not answer POST /hello 200 in 30 s");
    std::this_thread::sleep_for(100ms);
  }
}

// -- rows ---------------------------------------------------------------------------------------

struct row_def {
  std::string id;
  std::string what;
  bool cluster = false;
  cluster_shape shape; // cluster rows
  std::string app, transport; // single-machine rows
  std::vector<std::string> functions;
};

struct row_result {
  row_def def;
  bool ran = false;
  std::string skipped;
  std::string placement;
  double rps = 0, p50_us = 0, p99_us = 0, cpu_us_per_req = 0, hops_per_req = 0;
  uint64_t ok = 0, errors = 0;
  double unloaded_p50_us = 0, unloaded_p99_us = 0;
  std::string summary;
};

struct load_settings {
  unsigned connections = 16;
  std::chrono::milliseconds duration{5000}, warmup{1000}, unloaded{3000};
  std::string body = "hello spry, hello edge";
};

double metrics_of(deployment& d, const std::string& metric, const std::string& must_contain = "",
                  uint16_t only_port = 0) {
  double s = 0;
  for (auto& p : d.procs())
    if (p.http_port != 0 && (only_port == 0 || p.http_port == only_port)) {
      auto r = http_get(p.http_port, "/metrics");
      if (r.status == 200)
        s += metric_sum(r.body, metric, must_contain);
    }
  return s;
}

/// Starts what `def` runs; returns the port load goes to (node a of a cluster, whatever it hosts).
uint16_t start_row(deployment& d, const row_def& def, const paths& ps, const load_settings& ls,
                   const std::string& tag, std::string* placement) {
  if (def.cluster) {
    start_cluster(d, ps, def.shape, tag);
    const uint16_t port = d.find(def.shape.nodes.front())->http_port;
    wait_ready(d, port, def.shape.nodes.size(), def.functions, ls.body);
    if (placement)
      *placement = placement_of(cluster_view(port));
    return port;
  }
  const uint16_t port = start_single(d, ps, def.app, def.transport, tag);
  wait_single_ready(port, ls.body);
  d.note_tree();
  if (placement)
    *placement = "one process tree";
  return port;
}

row_result run_row(const row_def& def, const paths& ps, const load_settings& ls,
                   const std::string& tag) {
  row_result out;
  out.def = def;
  deployment d;
  const uint16_t port = start_row(d, def, ps, ls, tag, &out.placement);

  spry::bench::load_options o;
  o.port = port;
  o.method = "POST";
  o.path = "/hello";
  o.body = ls.body;
  o.connections = ls.connections;
  o.warmup = ls.warmup;
  o.duration = ls.duration;
  double cpu0 = 0;
  o.on_measure_start = [&] { cpu0 = d.cpu_seconds(); };
  const double hops0 = metrics_of(d, "spry_cross_node_hops_total");
  const double req0 = metrics_of(d, "spry_requests_total", "chain=\"hello\"", port);
  auto res = spry::bench::run_load(o);
  const double cpu1 = d.cpu_seconds();
  const double hops1 = metrics_of(d, "spry_cross_node_hops_total");
  const double req1 = metrics_of(d, "spry_requests_total", "chain=\"hello\"", port);
  if (!res)
    throw std::runtime_error("load on " + def.id + ": " + res.err().message);
  out.summary = res->summary();
  out.rps = res->requests_per_second();
  out.p50_us = static_cast<double>(res->latency_ns.percentile(0.5)) / 1e3;
  out.p99_us = static_cast<double>(res->latency_ns.percentile(0.99)) / 1e3;
  out.ok = res->ok();
  out.errors = res->errors();
  out.cpu_us_per_req = out.ok > 0 ? (cpu1 - cpu0) * 1e6 / static_cast<double>(out.ok) : 0;
  out.hops_per_req = req1 > req0 ? (hops1 - hops0) / (req1 - req0) : 0;

  // Unloaded: one connection, one request at a time: the chain's hops plus HTTP, no queueing.
  auto o1 = o;
  o1.connections = 1;
  o1.warmup = 300ms;
  o1.duration = ls.unloaded;
  o1.on_measure_start = nullptr;
  auto one = spry::bench::run_load(o1);
  if (one && one->ok() > 0) {
    out.unloaded_p50_us = static_cast<double>(one->latency_ns.percentile(0.5)) / 1e3;
    out.unloaded_p99_us = static_cast<double>(one->latency_ns.percentile(0.99)) / 1e3;
  }
  out.ran = true;
  return out;
}

// -- one hop, priced by pairs ------------------------------------------------------------------
// A hop's cost is a difference of two unloaded latencies (one connection, no queueing). Two
// separate runs on a shared machine drift apart by more than a hop, so both setups of a pair run
// at once (the idle one costs next to nothing: no transport here polls) and take turns: rounds of
// X then Y; the cost is the median over rounds of p50(X) - p50(Y) in the same round.

struct pair_result {
  std::string x, y, name, derivation;
  std::vector<double> p50_x, p50_y, diffs; ///< us, one per round
  double median_x = 0, median_y = 0, median_diff = 0, min_diff = 0, max_diff = 0;
  bool ran = false;
};

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

pair_result run_pair(const row_def& x, const row_def& y, const paths& ps, const load_settings& ls,
                     unsigned rounds, std::chrono::milliseconds round_length) {
  pair_result pr;
  pr.x = x.id;
  pr.y = y.id;
  deployment dx, dy;
  const uint16_t px = start_row(dx, x, ps, ls, "pair-" + x.id + "-" + y.id + "-x", nullptr);
  const uint16_t py = start_row(dy, y, ps, ls, "pair-" + x.id + "-" + y.id + "-y", nullptr);
  auto unloaded_p50 = [&](uint16_t port) {
    spry::bench::load_options o;
    o.port = port;
    o.method = "POST";
    o.path = "/hello";
    o.body = ls.body;
    o.connections = 1;
    o.warmup = 50ms; // a new connection's first requests
    o.duration = round_length;
    auto r = spry::bench::run_load(o);
    if (!r || r->ok() == 0 || r->errors() > 0)
      throw std::runtime_error("unloaded round on port " + std::to_string(port) + " failed" +
                               (r ? ": " + r->summary() : ": " + r.err().message));
    return static_cast<double>(r->latency_ns.percentile(0.5)) / 1e3;
  };
  for (unsigned i = 0; i < rounds; ++i) {
    // Alternate who goes first so a trend within a round favours neither.
    double a, b;
    if (i % 2 == 0) {
      a = unloaded_p50(px);
      b = unloaded_p50(py);
    } else {
      b = unloaded_p50(py);
      a = unloaded_p50(px);
    }
    pr.p50_x.push_back(a);
    pr.p50_y.push_back(b);
    pr.diffs.push_back(a - b);
  }
  pr.median_x = median(pr.p50_x);
  pr.median_y = median(pr.p50_y);
  pr.median_diff = median(pr.diffs);
  pr.min_diff = *std::min_element(pr.diffs.begin(), pr.diffs.end());
  pr.max_diff = *std::max_element(pr.diffs.begin(), pr.diffs.end());
  pr.ran = true;
  return pr;
}

// -- the fault ----------------------------------------------------------------------------------

/// Milliseconds since the epoch of an spdlog line's "%Y-%m-%dT%H:%M:%S.%e" (local time).
std::optional<int64_t> log_time_ms(const std::string& line) {
  std::smatch m;
  if (!std::regex_search(line, m,
                         std::regex(R"(^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3}))")))
    return std::nullopt;
  std::tm t{};
  t.tm_year = std::stoi(m[1]) - 1900;
  t.tm_mon = std::stoi(m[2]) - 1;
  t.tm_mday = std::stoi(m[3]);
  t.tm_hour = std::stoi(m[4]);
  t.tm_min = std::stoi(m[5]);
  t.tm_sec = std::stoi(m[6]);
  t.tm_isdst = -1;
  const time_t s = std::mktime(&t);
  return static_cast<int64_t>(s) * 1000 + std::stoi(m[7]);
}

/// The first line of `file` containing all of `needles` whose time is at or after `from_ms`.
std::optional<std::pair<int64_t, std::string>> find_log_line(const std::string& file,
                                                             const std::vector<std::string>& needles,
                                                             int64_t from_ms) {
  std::istringstream in(spry::bench::read_file(file));
  for (std::string line; std::getline(in, line);) {
    bool all = true;
    for (const auto& n : needles)
      all = all && line.find(n) != std::string::npos;
    if (!all)
      continue;
    auto t = log_time_ms(line);
    if (t && *t >= from_ms - 1) // spdlog truncates to ms
      return std::make_pair(*t, line);
  }
  return std::nullopt;
}

int64_t now_epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

struct fault_result {
  bool ran = false;
  std::string placement_before, placement_after, moved;
  double detect_log_ms = -1;    ///< kill -> controller logs "node 'b' lost"
  double detect_status_ms = -1; ///< kill -> a's /status shows b alive=false
  double placed_log_ms = -1;    ///< kill -> controller logs the moved function on a
  double ready_status_ms = -1;  ///< kill -> a's /status shows it ready on a
  double replace_ms = -1;       ///< detection (controller log) -> ready on a (a's /status)
  std::string lost_line;
  uint64_t sent = 0, ok = 0, s502 = 0, other_status = 0, timeouts = 0, conn_errors = 0;
  std::map<unsigned, uint64_t> by_status;
  double first_failure_ms = -1, last_failure_ms = -1; ///< send times, relative to the signal
  double max_failed_latency_ms = -1; ///< the longest a failed request waited for its answer
  double rate = 0;
  std::chrono::milliseconds request_timeout{2000};
  int signal = SIGKILL;
};

/// `sig`: SIGKILL (the node's process and sockets are gone: peers see its connections close) or
/// SIGSTOP (a hung node: its sockets stay open, only the missing reports give it away).
fault_result run_fault(const paths& ps, const load_settings& ls, int sig, unsigned fault_connections,
                       std::chrono::milliseconds interval, std::chrono::milliseconds req_timeout) {
  fault_result fr;
  fr.signal = sig;
  fr.request_timeout = req_timeout;
  deployment d;
  cluster_shape s{ps.hello_yaml, "shm-skmsg", {"a", "b"}, true, 2};
  start_cluster(d, ps, s, sig == SIGKILL ? "fault-kill" : "fault-stop");
  const uint16_t port = d.find("a")->http_port;
  wait_ready(d, port, 2, {"upper", "count"}, ls.body);
  auto view = cluster_view(port);
  fr.placement_before = placement_of(view);
  // The function(s) only b runs: those must move to a.
  std::vector<std::string> moved;
  for (const auto& n : view["nodes"])
    if (n.value("name", "") == "b")
      for (auto it = n["functions"].begin(); it != n["functions"].end(); ++it)
        if (it.value().get<int>() > 0) {
          bool on_a = false;
          for (const auto& m : view["nodes"])
            if (m.value("name", "") == "a" && m["functions"].value(it.key(), 0) > 0)
              on_a = true;
          if (!on_a)
            moved.push_back(it.key());
        }
  for (const auto& f : moved)
    fr.moved += (fr.moved.empty() ? "" : ",") + f;

  // Light load on a: `fault_connections` clients, each a request then `interval` of rest.
  struct event {
    steady::time_point at, answered;
    unsigned status;
    std::string error;
  };
  std::mutex mtx;
  std::vector<event> events;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  const auto load_start = steady::now();
  for (unsigned i = 0; i < fault_connections; ++i)
    clients.emplace_back([&] {
      http_client c(port);
      std::vector<event> mine;
      while (!stop) {
        const auto t = steady::now();
        auto r = c.request("POST", "/hello", ls.body, req_timeout);
        mine.push_back({t, steady::now(), r.status, r.error});
        std::this_thread::sleep_for(interval);
      }
      std::lock_guard<std::mutex> g{mtx};
      events.insert(events.end(), mine.begin(), mine.end());
    });
  // Whatever happens below, the clients stop before this function returns.
  struct joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& ts;
    ~joiner() {
      stop = true;
      for (auto& t : ts)
        if (t.joinable())
          t.join();
    }
  } join_clients{stop, clients};

  std::this_thread::sleep_for(1500ms);
  spry_process* b = d.find("b");
  const int64_t kill_epoch_ms = now_epoch_ms();
  const auto kill_at = steady::now();
  ::kill(b->proc->pid(), sig); // by its PID
  const auto ms_since_kill = [&] {
    return std::chrono::duration<double, std::milli>(steady::now() - kill_at).count();
  };
  const auto until = kill_at + 20s;
  bool b_reaped = false;
  while (steady::now() < until &&
         (fr.detect_status_ms < 0 || fr.ready_status_ms < 0 || fr.detect_log_ms < 0)) {
    if (!b_reaped && sig == SIGKILL)
      b_reaped = !b->proc->running(); // reaps it
    auto v = cluster_view(port, 500ms);
    const double t = ms_since_kill();
    if (v.is_object()) {
      for (const auto& n : v["nodes"]) {
        const auto name = n.value("name", "");
        if (name == "b" && !n.value("alive", true) && fr.detect_status_ms < 0)
          fr.detect_status_ms = t;
        if (name == "a" && n.value("alive", false) && fr.ready_status_ms < 0 && !moved.empty()) {
          bool all = true;
          for (const auto& f : moved)
            all = all && n["functions"].value(f, 0) > 0;
          if (all)
            fr.ready_status_ms = t;
        }
      }
    }
    if (fr.detect_log_ms < 0)
      if (auto l = find_log_line(d.find("controller")->stderr_file, {"node 'b' lost"}, kill_epoch_ms)) {
        fr.detect_log_ms = static_cast<double>(l->first - kill_epoch_ms);
        fr.lost_line = l->second;
      }
    if (moved.empty() && fr.detect_status_ms >= 0)
      break;
    std::this_thread::sleep_for(5ms);
  }
  if (fr.detect_log_ms >= 0 && !moved.empty())
    if (auto l = find_log_line(d.find("controller")->stderr_file,
                               {"function '" + moved.front() + "' on", "a x"},
                               kill_epoch_ms + static_cast<int64_t>(fr.detect_log_ms)))
      fr.placed_log_ms = static_cast<double>(l->first - kill_epoch_ms);
  if (fr.detect_log_ms >= 0 && fr.ready_status_ms >= 0)
    fr.replace_ms = fr.ready_status_ms - fr.detect_log_ms;
  // Keep the load on a while longer: requests after re-placement must succeed again.
  std::this_thread::sleep_for(2s);
  fr.placement_after = placement_of(cluster_view(port));
  stop = true;
  for (auto& t : clients)
    t.join();
  if (sig != SIGKILL)
    b->proc->stop(SIGKILL, 10s); // a stopped process ignores SIGTERM until it runs again
  const double seconds = std::chrono::duration<double>(steady::now() - load_start).count();

  for (const auto& e : events) {
    ++fr.sent;
    const double rel = std::chrono::duration<double, std::milli>(e.at - kill_at).count();
    bool failed = true;
    if (e.status >= 200 && e.status < 300) {
      ++fr.ok;
      failed = false;
    } else if (e.status == 502) {
      ++fr.s502;
    } else if (e.status != 0) {
      ++fr.other_status;
    } else if (e.error == "timeout") {
      ++fr.timeouts;
    } else {
      ++fr.conn_errors;
    }
    if (e.status != 0)
      ++fr.by_status[e.status];
    if (failed) {
      if (fr.first_failure_ms < 0 || rel < fr.first_failure_ms)
        fr.first_failure_ms = rel;
      fr.last_failure_ms = std::max(fr.last_failure_ms, rel);
      fr.max_failed_latency_ms = std::max(
        fr.max_failed_latency_ms, std::chrono::duration<double, std::milli>(e.answered - e.at).count());
    }
  }
  fr.rate = static_cast<double>(fr.sent) / seconds;
  fr.ran = true;
  return fr;
}

std::string fmt(double v, int prec = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

/// Fault timings: -1 means "not seen".
std::string fmt_seen(double v) { return v < 0 ? "not seen" : fmt(v, 0); }

std::string load_average() {
  std::string s = spry::bench::read_file("/proc/loadavg");
  std::istringstream in(s);
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App cli{"cluster_bench: cluster mode (controller + nodes on 127.0.0.1) against `spry run` "
               "in the same run: throughput, latency, CPU and cross-node hops per request, the "
               "cost of a cross-node hop, and the timing of a node's loss"};
  paths ps;
  ps.spry = SPRY_BINARY;
  ps.hello_yaml = SPRY_HELLO_YAML;
  std::string certs_script = std::string(SPRY_SOURCE_DIR) + "/scripts/cluster-certs";
  std::string duration = "5s", warmup = "1s", unloaded = "3s", out_dir = "cluster_bench_results";
  std::string fault_interval = "10ms", fault_timeout = "2s";
  unsigned fault_connections = 2, rounds = 1, hop_rounds = 20;
  // Short rounds, many of them: drift on a shared machine comes in waves of seconds, and a pair
  // measured within a fraction of a second sees the same wave.
  std::string hop_round_s = "300ms";
  load_settings ls;
  std::vector<std::string> rows{"a", "b", "c", "d", "e", "hops", "fault", "fault-stop"};
  bool keep = false;
  cli.add_option("--spry", ps.spry, "The spry binary")->capture_default_str();
  cli.add_option("--app", ps.hello_yaml, "The hello app file (next to libspry_hello.so)")
    ->capture_default_str();
  cli.add_option("--certs-script", certs_script, "scripts/cluster-certs")->capture_default_str();
  cli.add_option("--connections,-c", ls.connections, "Closed-loop connections")->capture_default_str();
  cli.add_option("--duration,-d", duration, "Measured time per row")->capture_default_str();
  cli.add_option("--warmup,-w", warmup, "Warm-up before each measured window")->capture_default_str();
  cli.add_option("--unloaded", unloaded, "Measured time of the 1-connection run per row")
    ->capture_default_str();
  cli.add_option("--rows", rows, "Which to run: a b c d e (rows), hops (hop costs from pairs of "
                                 "setups), fault (SIGKILL), fault-stop (SIGSTOP)")
    ->capture_default_str();
  cli.add_option("--rounds,-r", rounds, "Rounds of the rows (median by req/s)")->capture_default_str();
  cli.add_option("--hop-rounds", hop_rounds, "Alternating rounds per hop pair")->capture_default_str();
  cli.add_option("--hop-round", hop_round_s, "Length of one hop round")->capture_default_str();
  cli.add_option("--fault-connections", fault_connections, "Clients during the fault")
    ->capture_default_str();
  cli.add_option("--fault-interval", fault_interval, "Rest between a client's requests")
    ->capture_default_str();
  cli.add_option("--fault-timeout", fault_timeout, "Per-request timeout in the fault run "
                                                   "(longer counts as hung)")
    ->capture_default_str();
  cli.add_option("--out,-o", out_dir, "Directory for results.json, summary.csv, summary.md")
    ->capture_default_str();
  cli.add_flag("--keep-logs", keep, "Keep the temp dir with certificates and every process's log");
  CLI11_PARSE(cli, argc, argv);
  auto ms = [](const std::string& s, const char* what) {
    auto v = spry::core::parse_duration_ms(s);
    if (!v) {
      std::cerr << "cluster_bench: " << what << ": " << v.err().message << "\n";
      std::exit(2);
    }
    return std::chrono::milliseconds(*v);
  };
  ls.duration = ms(duration, "--duration");
  ls.warmup = ms(warmup, "--warmup");
  ls.unloaded = ms(unloaded, "--unloaded");
  const auto f_interval = ms(fault_interval, "--fault-interval");
  const auto f_timeout = ms(fault_timeout, "--fault-timeout");
  const auto hop_round = ms(hop_round_s, "--hop-round");
  if (rounds == 0 || hop_rounds == 0) {
    std::cerr << "cluster_bench: --rounds and --hop-rounds must be at least 1\n";
    return 2;
  }
  for (const auto& f : {ps.spry, ps.hello_yaml, certs_script})
    if (!fs::exists(f)) {
      std::cerr << "cluster_bench: " << f << " not found (build spry and spry_hello first, or "
                                             "pass --spry/--app/--certs-script)\n";
      return 2;
    }
  ps.spry = fs::canonical(ps.spry).string();
  ps.hello_yaml = fs::canonical(ps.hello_yaml).string();
  const auto wanted = [&](const std::string& r) {
    return std::find(rows.begin(), rows.end(), r) != rows.end();
  };

  char tmpl[] = "/tmp/spry-cluster-bench-XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::perror("cluster_bench: mkdtemp");
    return 1;
  }
  ps.work = tmpl;
  ps.certs = ps.work + "/certs";
  struct cleanup {
    std::string dir;
    bool keep;
    ~cleanup() {
      if (!keep)
        fs::remove_all(dir);
    }
  } cleanup_dir{ps.work, keep};

  const std::string certs_cmd = "'" + certs_script + "' '" + ps.certs +
                                "' controller a b c > '" + ps.work + "/certs.log' 2>&1";
  if (std::system(certs_cmd.c_str()) != 0) {
    std::cerr << "cluster_bench: " << certs_script << " failed:\n"
              << spry::bench::read_file(ps.work + "/certs.log");
    return 1;
  }
  // The 3-function chain: upper -> upper2 -> count, both upper the same handler of
  // libspry_hello.so (no new C++). Every node reads this same file (the app digest must match).
  ps.hello3_yaml = ps.work + "/hello3.yaml";
  {
    const auto lib = fs::path(ps.hello_yaml).parent_path() / "libspry_hello.so";
    std::ofstream y(ps.hello3_yaml);
    y << "app: hello3\ntransport: local\nlibraries: [" << lib.string() << "]\n"
      << "gateway:\n  listen: 127.0.0.1:8080\n  io_threads: 1\n  body_limit: 1MiB\n"
      << "policies:\n  load_balancer: round_robin\n"
      << "functions:\n  - { name: upper, handler: hello.uppercase }\n"
      << "  - { name: upper2, handler: hello.uppercase }\n"
      << "  - { name: count, handler: hello.count }\n"
      << "chains:\n  - name: hello\n    http: { method: POST, path: /hello }\n"
      << "    functions: [upper, upper2, count]\n"
      << "    pool: { buffers: 1024, buffer_size: 64KiB }\n    timeout: 10s\n";
  }

  const std::vector<std::string> two{"upper", "count"}, three{"upper", "upper2", "count"};
  std::map<std::string, row_def> defs;
  auto single = [&](std::string id, std::string what, std::string app, std::string transport,
                    std::vector<std::string> fns) {
    row_def r;
    r.id = id;
    r.what = std::move(what);
    r.app = std::move(app);
    r.transport = std::move(transport);
    r.functions = std::move(fns);
    defs[id] = r;
  };
  auto clustered = [&](std::string id, std::string what, cluster_shape s, std::vector<std::string> fns) {
    row_def r;
    r.id = id;
    r.what = std::move(what);
    r.cluster = true;
    r.shape = std::move(s);
    r.functions = std::move(fns);
    defs[id] = r;
  };
  single("a", "spry run, shm-skmsg (baseline)", ps.hello_yaml, "shm-skmsg", two);
  clustered("b", "cluster 1 node, shm-skmsg", {ps.hello_yaml, "shm-skmsg", {"a"}, false, 1}, two);
  clustered("c", "cluster 2 nodes spread, shm-skmsg",
            {ps.hello_yaml, "shm-skmsg", {"a", "b"}, true, 2}, two);
  clustered("d", "cluster 3 nodes spread, 3-fn chain, shm-skmsg",
            {ps.hello3_yaml, "shm-skmsg", {"a", "b", "c"}, true, 3}, three);
  clustered("e", "cluster 2 nodes spread, tcp", {ps.hello_yaml, "tcp", {"a", "b"}, true, 2}, two);
  // Only to price one hop (the pairs below).
  single("a3", "spry run, 3-fn chain, shm-skmsg", ps.hello3_yaml, "shm-skmsg", three);
  single("t", "spry run, tcp", ps.hello_yaml, "tcp", two);
  single("t3", "spry run, 3-fn chain, tcp", ps.hello3_yaml, "tcp", three);
  clustered("bt", "cluster 1 node, tcp", {ps.hello_yaml, "tcp", {"a"}, false, 1}, two);

  struct pair_def {
    const char* x;
    const char* y;
    const char* name;
    const char* derivation;
  };
  const std::vector<pair_def> pair_defs{
    {"b", "a", "cluster overhead (no cross-node hop)",
     "p50(b) - p50(a): the same chain on one node of a cluster vs spry run"},
    {"c", "b", "cross-node hop, shm-skmsg inside nodes",
     "p50(c) - p50(b): the same chain with count moved to node b: the request a -> b over the data "
     "link and its result back (one cross-node round trip), plus b's side of it"},
    {"a3", "a", "intra-node hop, shm-skmsg",
     "p50(a3) - p50(a): one more function (upper2: an in-place upper-case, ~nothing) in the chain "
     "on one machine: one more shm-skmsg hop and its way back"},
    {"e", "bt", "cross-node hop, tcp inside nodes",
     "p50(e) - p50(bt): as c - b, with transport tcp inside the nodes (bt = 1-node cluster, tcp)"},
    {"t3", "t", "intra-node hop, tcp transport",
     "p50(t3) - p50(t): one more function in the chain on one machine, transport tcp: one more "
     "tcp-transport hop and its way back"},
    {"d", "c", "second cross-node hop (3 nodes)",
     "p50(d) - p50(c): a third function (upper2) on a third node"},
  };

  const std::string load_at_start = load_average();
  std::printf("cluster_bench: hello chain, %u connections, %lld ms after %lld ms warm-up per row "
              "x %u round(s), then 1 connection for %lld ms; load average at start %s\n",
              ls.connections, static_cast<long long>(ls.duration.count()),
              static_cast<long long>(ls.warmup.count()), rounds,
              static_cast<long long>(ls.unloaded.count()), load_at_start.c_str());
  std::fflush(stdout);
  std::vector<row_result> results;
  std::vector<pair_result> pairs;
  std::vector<fault_result> faults;
  int code = 0;
  try {
    // Rounds: a b c ... a b c ..., every setup started afresh each round; the round with the
    // median req/s of each row is reported.
    std::map<std::string, std::vector<row_result>> by_row;
    for (unsigned r = 0; r < rounds; ++r)
      for (const char* id : {"a", "b", "c", "d", "e"}) {
        if (!wanted(id))
          continue;
        auto res = run_row(defs[id], ps, ls, std::string(id) + "-r" + std::to_string(r));
        std::printf("  %-2s round %u  %-46s %s [%s]\n", id, r + 1, res.def.what.c_str(),
                    res.summary.c_str(), res.placement.c_str());
        std::fflush(stdout);
        by_row[id].push_back(std::move(res));
      }
    for (const char* id : {"a", "b", "c", "d", "e"}) {
      auto& v = by_row[id];
      if (v.empty())
        continue;
      std::sort(v.begin(), v.end(), [](const auto& p, const auto& q) { return p.rps < q.rps; });
      results.push_back(v[v.size() / 2]);
    }
    if (wanted("hops"))
      for (const auto& pd : pair_defs) {
        auto pr = run_pair(defs[pd.x], defs[pd.y], ps, ls, hop_rounds, hop_round);
        pr.name = pd.name;
        pr.derivation = pd.derivation;
        std::printf("  hop pair %-3s - %-3s %-40s median %.1f us (rounds %.1f .. %.1f)\n", pd.x,
                    pd.y, pd.name, pr.median_diff, pr.min_diff, pr.max_diff);
        std::fflush(stdout);
        pairs.push_back(std::move(pr));
      }
    for (const auto& [flag, sig] : {std::pair<const char*, int>{"fault", SIGKILL},
                                    std::pair<const char*, int>{"fault-stop", SIGSTOP}})
      if (wanted(flag)) {
        faults.push_back(run_fault(ps, ls, sig, fault_connections, f_interval, f_timeout));
        const auto& fr = faults.back();
        std::printf("  %s: %s -> %s; %llu requests sent\n", flag, fr.placement_before.c_str(),
                    fr.placement_after.c_str(), static_cast<unsigned long long>(fr.sent));
        std::fflush(stdout);
      }
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "cluster_bench: " << e.what() << "\n";
    code = 1;
  }
  const std::string load_at_end = load_average();

  // -- report -----------------------------------------------------------------------------------
  const row_result* base = nullptr;
  for (const auto& r : results)
    if (r.def.id == "a")
      base = &r;
  std::ostringstream md;
  md << "## cluster_bench\n\nhello chain (upper -> count; d, a3, t3: upper -> upper2 -> count), "
     << ls.connections << " closed-loop connections, " << ls.duration.count() << " ms after "
     << ls.warmup.count() << " ms warm-up, median of " << rounds
     << " round(s) by req/s; unloaded: 1 connection, " << ls.unloaded.count()
     << " ms. Load average " << load_at_start << " (start), " << load_at_end << " (end); "
     << std::thread::hardware_concurrency() << " CPUs. All servers on 127.0.0.1, load to node a.\n\n";
  if (!results.empty()) {
    md << "| row | setup | placement | req/s | p50 us | p99 us | CPU us/req | hops/req | req/s x a "
          "| unloaded p50 us | unloaded p99 us | errors |\n"
       << "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& r : results)
      md << "| " << r.def.id << " | " << r.def.what << " | " << r.placement << " | "
         << fmt(r.rps, 0) << " | " << fmt(r.p50_us) << " | " << fmt(r.p99_us) << " | "
         << fmt(r.cpu_us_per_req) << " | " << fmt(r.hops_per_req, 2) << " | "
         << (base && base->rps > 0 ? fmt(r.rps / base->rps, 3) : "n/a") << " | "
         << fmt(r.unloaded_p50_us) << " | " << fmt(r.unloaded_p99_us) << " | " << r.errors
         << " |\n";
    md << "\nunloaded: one connection right after each row's load, in separate runs (drift between "
          "them is larger than a hop: hop costs come from the pairs below). "
          "CPU us/req: every spry process of the row (controller, nodes, their instances; "
          "/proc) over the measured window / its 2xx answers. hops/req: sum over nodes of "
          "spry_cross_node_hops_total / the ingress node's spry_requests_total{chain=\"hello\"}, "
          "both over the whole load run (/metrics).\n";
    for (const auto& r : results)
      if (r.def.id == "b" && base && base->rps > 0)
        md << "\nTarget (b) >= 0.9x (a): (b) is " << fmt(r.rps / base->rps, 3) << "x -> "
           << (r.rps >= 0.9 * base->rps ? "met" : "NOT met") << ".\n";
  }
  if (!pairs.empty()) {
    md << "\n| hop cost | median us | rounds min..max us | p50 X us | p50 Y us | derivation |\n"
       << "|---|---:|---:|---:|---:|---|\n";
    for (const auto& p : pairs)
      md << "| " << p.name << " | " << fmt(p.median_diff) << " | " << fmt(p.min_diff) << " .. "
         << fmt(p.max_diff) << " | " << fmt(p.median_x) << " | " << fmt(p.median_y) << " | "
         << p.derivation << " |\n";
    md << "\nEach figure: both setups up at once, " << hop_rounds << " rounds of "
       << hop_round.count() << " ms of one connection, one request at a time (no queueing) on X "
       << "then Y (order alternating); per round p50(X) - p50(Y); the median over rounds.\n";
    const pair_result* cross = nullptr;
    const pair_result* tcp_hop = nullptr;
    for (const auto& p : pairs) {
      if (p.x == "c")
        cross = &p;
      if (p.x == "t3")
        tcp_hop = &p;
    }
    if (cross && tcp_hop)
      md << "\nTarget, a cross-node hop no dearer than a tcp-transport hop: " << fmt(cross->median_diff)
         << " us vs " << fmt(tcp_hop->median_diff) << " us -> "
         << (cross->median_diff <= tcp_hop->median_diff ? "met" : "NOT met") << ".\n";
  }
  for (const auto& fr : faults) {
    const bool kill9 = fr.signal == SIGKILL;
    md << "\n### Fault: " << (kill9 ? "SIGKILL" : "SIGSTOP (a hung node)")
       << " of node b (2 nodes, --spread-chains --min-nodes 2, shm-skmsg), load on a\n\n"
       << "Placement before: " << fr.placement_before << "; to move: "
       << (fr.moved.empty() ? "nothing (b ran nothing a did not)" : fr.moved)
       << "; after: " << fr.placement_after << ". Load: " << fault_connections
       << " client(s), each a request then " << f_interval.count() << " ms rest (" << fmt(fr.rate, 0)
       << " req/s), per-request timeout " << fr.request_timeout.count() << " ms.\n\n"
       << "| measure | ms | target |\n|---|---:|---|\n"
       << "| (i) detection: signal -> controller logs `node 'b' lost` (its timestamp, ms) | "
       << fmt_seen(fr.detect_log_ms) << " | <= 2000: "
       << (fr.detect_log_ms >= 0 && fr.detect_log_ms <= 2000 ? "met" : "NOT met") << " |\n"
       << "| signal -> a's GET /status shows b alive=false (polled every ~5 ms) | "
       << fmt_seen(fr.detect_status_ms) << " | |\n"
       << "| signal -> controller logs the moved function on a | " << fmt_seen(fr.placed_log_ms)
       << " | |\n"
       << "| signal -> a's /status shows the moved function ready on a | "
       << fmt_seen(fr.ready_status_ms) << " | |\n"
       << "| (ii) re-placement: detection (controller log) -> ready on a (a's /status) | "
       << fmt_seen(fr.replace_ms) << " | <= 3000: "
       << (fr.replace_ms >= 0 && fr.replace_ms <= 3000 ? "met" : "NOT met") << " |\n\n"
       << "(iii) requests: " << fr.sent << " sent, " << fr.ok << " 2xx, " << fr.s502 << " 502, "
       << fr.other_status << " other status";
    for (const auto& [st, n] : fr.by_status)
      if (st != 200 && st != 502)
        md << " (" << st << ": " << n << ")";
    md << ", " << fr.timeouts << " hung past the timeout, " << fr.conn_errors << " connection errors";
    if (fr.first_failure_ms < 0)
      md << "; no request failed.\n";
    else
      md << "; failed requests were sent from " << fmt_seen(fr.first_failure_ms) << " to "
         << fmt_seen(fr.last_failure_ms) << " ms after the signal, the slowest answered "
         << fmt_seen(fr.max_failed_latency_ms) << " ms after it was sent.\n";
    if (!fr.lost_line.empty())
      md << "Controller: `" << fr.lost_line << "`\n";
  }
  std::printf("\n%s", md.str().c_str());

  // -- files ------------------------------------------------------------------------------------
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  nlohmann::json j;
  j["load_average_start"] = load_at_start;
  j["load_average_end"] = load_at_end;
  j["connections"] = ls.connections;
  j["duration_ms"] = ls.duration.count();
  j["warmup_ms"] = ls.warmup.count();
  j["unloaded_ms"] = ls.unloaded.count();
  j["rows"] = nlohmann::json::array();
  std::ofstream csv(out_dir + "/summary.csv");
  csv << "row,setup,placement,req_per_s,p50_us,p99_us,cpu_us_per_req,hops_per_req,ratio_vs_a,"
         "unloaded_p50_us,unloaded_p99_us,ok,errors\n";
  for (const auto& r : results) {
    const double ratio = base && base->rps > 0 ? r.rps / base->rps : 0;
    j["rows"].push_back({{"row", r.def.id}, {"setup", r.def.what}, {"placement", r.placement},
                         {"req_per_s", r.rps}, {"p50_us", r.p50_us}, {"p99_us", r.p99_us},
                         {"cpu_us_per_req", r.cpu_us_per_req}, {"hops_per_req", r.hops_per_req},
                         {"ratio_vs_a", ratio}, {"unloaded_p50_us", r.unloaded_p50_us},
                         {"unloaded_p99_us", r.unloaded_p99_us}, {"ok", r.ok},
                         {"errors", r.errors}, {"summary", r.summary}});
    csv << r.def.id << ",\"" << r.def.what << "\",\"" << r.placement << "\"," << r.rps << ","
        << r.p50_us << "," << r.p99_us << "," << r.cpu_us_per_req << "," << r.hops_per_req << ","
        << ratio << "," << r.unloaded_p50_us << "," << r.unloaded_p99_us << "," << r.ok << ","
        << r.errors << "\n";
  }
  j["rounds"] = rounds;
  j["hop_rounds"] = hop_rounds;
  j["hop_round_ms"] = hop_round.count();
  j["hop_costs"] = nlohmann::json::array();
  for (const auto& p : pairs)
    j["hop_costs"].push_back({{"name", p.name}, {"x", p.x}, {"y", p.y},
                              {"median_us", p.median_diff}, {"min_us", p.min_diff},
                              {"max_us", p.max_diff}, {"p50_x_us", p.p50_x},
                              {"p50_y_us", p.p50_y}, {"derivation", p.derivation}});
  j["faults"] = nlohmann::json::array();
  for (const auto& fr : faults) {
    nlohmann::json by_status = nlohmann::json::object();
    for (const auto& [st, n] : fr.by_status)
      by_status[std::to_string(st)] = n;
    j["faults"].push_back(
      {{"signal", fr.signal == SIGKILL ? "SIGKILL" : "SIGSTOP"},
       {"placement_before", fr.placement_before}, {"placement_after", fr.placement_after},
       {"moved", fr.moved}, {"detect_log_ms", fr.detect_log_ms},
       {"detect_status_ms", fr.detect_status_ms}, {"placed_log_ms", fr.placed_log_ms},
       {"ready_status_ms", fr.ready_status_ms}, {"replace_ms", fr.replace_ms}, {"sent", fr.sent},
       {"ok", fr.ok}, {"status_502", fr.s502}, {"other_status", fr.other_status},
       {"by_status", by_status}, {"hung", fr.timeouts}, {"connection_errors", fr.conn_errors},
       {"first_failure_ms", fr.first_failure_ms}, {"last_failure_ms", fr.last_failure_ms},
       {"max_failed_latency_ms", fr.max_failed_latency_ms},
       {"request_timeout_ms", fr.request_timeout.count()}, {"rate", fr.rate},
       {"lost_line", fr.lost_line}});
  }
  std::ofstream(out_dir + "/results.json") << j.dump(2) << "\n";
  std::ofstream(out_dir + "/summary.md") << md.str();
  std::printf("\ncluster_bench: wrote %s/results.json, summary.csv, summary.md\n", out_dir.c_str());
  if (keep)
    std::printf("cluster_bench: logs and certificates kept in %s\n", ps.work.c_str());
  std::fflush(stdout);
  return code;
}
