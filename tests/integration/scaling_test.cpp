// Integration: the live control plane. Real `spry run` processes with a CPU-burning function
// (test.burn), scaled by the KPA autoscaler, on the local transport and on instance processes.
// Every process started is stopped by its PID.
#include "bench/load/child_process.hpp"
#include "bench/load/http_load.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/prometheus_text.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <regex>
#include <thread>

using namespace spry::test;
using spry::bench::child_process;

namespace {

std::string scaling_yaml(const std::string& transport, const std::string& function,
                         const std::string& policies, const std::string& extra = {}) {
  return "app: scale\ntransport: " + transport + "\nlibraries: [" SPRY_FAULT_LIBRARY "]\n"
         "gateway: {listen: '127.0.0.1:0'}\n" + policies + extra +
         "functions:\n  - " + function + "\n"
         "chains:\n  - { name: burn, http: { path: /burn }, functions: [burn], timeout: 10s,\n"
         "      pool: { buffers: 128, buffer_size: 4KiB } }\n";
}

const std::string kpa =
  "policies:\n  load_balancer: least_connections\n"
  "  autoscaler: { name: kpa, interval: 100ms, params: { target_concurrency: 1, stable_window_s: 1,"
  " panic_window_percentage: 50, scale_to_zero_grace_s: 0.5 } }\n";

double metric(uint16_t port, const std::string& series) {
  auto m = http_request(port, "GET", "/metrics");
  REQUIRE(m);
  auto v = metric_value(m->body, series);
  return v ? *v : -1;
}

double ready_instances(uint16_t port) {
  return metric(port, "spry_function_instances{function=\"burn\",state=\"ready\"}");
}

// Every 50 ms: each poll scrapes /metrics of a gateway that is busy scaling.
bool wait_until(const std::function<bool()>& f, std::chrono::milliseconds within) {
  return eventually(f, within, std::chrono::milliseconds(50));
}

struct burn_outcome {
  uint64_t ok = 0;
  uint64_t errors = 0; ///< non-200 answers and broken connections
};

// `connections` closed-loop users POST `body` (microseconds to burn) to /burn for `ms`.
burn_outcome burn_load(uint16_t port, const std::string& body, unsigned connections, int ms,
                       int warmup_ms = 0) {
  spry::bench::load_options lo;
  lo.port = port;
  lo.path = "/burn";
  lo.body = body;
  lo.connections = connections;
  lo.duration = std::chrono::milliseconds(ms);
  lo.warmup = std::chrono::milliseconds(warmup_ms);
  auto r = spry::bench::run_load(lo);
  REQUIRE(r);
  burn_outcome out{r->ok(), r->transport_errors};
  for (const auto& [status, n] : r->by_status)
    if (status != 200)
      out.errors += n;
  return out;
}

// `n` requests at once (one connection each); the statuses.
std::vector<int> burst(uint16_t port, int n, const std::string& body) {
  std::vector<int> status(static_cast<size_t>(n), 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      auto r = http_request(port, "POST", "/burn", body);
      status[static_cast<size_t>(i)] = r ? r->status : -1;
    });
  for (auto& t : threads)
    t.join();
  return status;
}

void scale_up_and_down(const std::string& transport) {
  temp_dir dir;
  child_process spry({SPRY_BINARY, "run",
                      dir.file("app.yaml", scaling_yaml(transport,
                                                        "{ name: burn, handler: test.burn, "
                                                        "min_instances: 0, max_instances: 3 }",
                                                        kpa)),
                      "--log-level", "warn"});
  const uint16_t port = port_of(spry);
  CHECK(ready_instances(port) == 0); // min_instances 0: nothing runs until a request comes

  // Scale from zero: a burst at zero instances is held at the gateway, none is lost.
  auto first = burst(port, 12, "1000");
  CHECK(std::count(first.begin(), first.end(), 200) == 12);
  CHECK(metric(port, "spry_cold_start_seconds_count{function=\"burn\"}") >= 1);

  // Step load: 4 closed-loop users on 2 ms requests want more than one instance.
  double peak = 0;
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      peak = std::max(peak, ready_instances(port));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const auto load = burn_load(port, "2000", 4, 2500);
  done = true;
  watcher.join();
  CHECK(load.errors == 0);
  CHECK(load.ok > 0);
  CHECK(peak >= 2);
  CHECK(metric(port, "spry_scaling_events_total{function=\"burn\",direction=\"up\"}") >= 2);

  // Idle: back to zero after the grace period, every retired instance drained first.
  CHECK(wait_until([&] { return ready_instances(port) == 0 &&
                                metric(port, "spry_function_instances{function=\"burn\",state=\"retiring\"}") == 0; },
                   std::chrono::seconds(15)));
  CHECK(metric(port, "spry_requests_total{chain=\"burn\",code=\"502\"}") <= 0);
  CHECK(metric(port, "spry_requests_total{chain=\"burn\",code=\"503\"}") <= 0);
  CHECK(metric(port, "spry_requests_total{chain=\"burn\",code=\"504\"}") <= 0);
  CHECK(metric(port, "spry_pool_buffers{chain=\"burn\",state=\"in_use\"}") == 0);
  // The execution histogram still counts what the instances now gone ran (counters never go
  // down in Prometheus): every request of the burst and of the step load.
  CHECK(metric(port, "spry_function_execution_seconds_count{function=\"burn\"}") >=
        static_cast<double>(12 + load.ok));
  if (transport != "local")
    CHECK(wait_until([&] { return spry::bench::children_of(spry.pid()).empty(); },
                     std::chrono::seconds(5)));

  // And from zero once more.
  auto again = http_request(port, "POST", "/burn", "500");
  REQUIRE(again);
  CHECK(again->status == 200);
}

} // namespace

TEST_CASE("autoscaling on local: scale from zero holds requests, step load scales up, idle scales to zero",
          "[integration][scaling]") {
  scale_up_and_down("local");
}

TEST_CASE("autoscaling on instance processes (tcp): same behaviour, processes started and stopped",
          "[integration][scaling][processes]") {
  scale_up_and_down("tcp");
}

TEST_CASE("autoscaling on shm-skmsg", "[integration][scaling][processes]") {
  if (geteuid() != 0) {
    WARN("shm-skmsg autoscaling test did not run: needs root (BPF)");
    return;
  }
  scale_up_and_down("shm-skmsg");
}

TEST_CASE("Mu's load balancer steers away from a deliberately slowed instance",
          "[integration][scaling][processes]") {
  // Two instances; the one at endpoint 2 runs test.burn 10x slower. The share of requests it
  // finishes is compared between round robin (blind: about half) and mu (R_i = (Q_i+1)/Cap_i).
  auto slow_share = [](const std::string& balancer) {
    temp_dir dir;
    setenv("SPRY_TEST_SLOW_ENDPOINT", "2", 1);
    child_process spry({SPRY_BINARY, "run",
                        dir.file("app.yaml",
                                 scaling_yaml("tcp", "{ name: burn, handler: test.burn, min_instances: 2 }",
                                              "policies: { load_balancer: " + balancer + " }\n",
                                              "routing: direct\n")),
                        "--log-level", "warn"});
    unsetenv("SPRY_TEST_SLOW_ENDPOINT");
    const uint16_t port = port_of(spry);
    CHECK(burn_load(port, "1000", 3, 2000, 200).errors == 0);
    const double fast = metric(port, "spry_instance_completed_total{function=\"burn\",instance=\"1\",transport=\"tcp\"}");
    const double slow = metric(port, "spry_instance_completed_total{function=\"burn\",instance=\"2\",transport=\"tcp\"}");
    REQUIRE(fast > 0);
    REQUIRE(slow >= 0);
    return slow / (fast + slow);
  };
  const double rr = slow_share("round_robin");
  const double mu = slow_share("mu");
  INFO("slow instance's share: round_robin " << rr << ", mu " << mu);
  CHECK(rr > 0.35);  // blind rotation sends it about half
  CHECK(mu < 0.2);   // Mu sees its queue and its measured capacity
}

TEST_CASE("placement respects node capacity and pins instances to their node's CPUs",
          "[integration][scaling][processes]") {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
    WARN("placement pinning test did not run: needs 2 CPUs");
    return;
  }
  temp_dir dir;
  // Room for one instance per node (memory), three wanted under load: one stays unplaced.
  child_process spry({SPRY_BINARY, "run",
                      dir.file("app.yaml",
                               scaling_yaml("tcp",
                                            "{ name: burn, handler: test.burn, min_instances: 2, "
                                            "max_instances: 3, memory: 200MiB, cpu: 1 }",
                                            kpa,
                                            "nodes:\n  - { name: a, cpus: \"0\", memory: 256MiB }\n"
                                            "  - { name: b, cpus: \"1\", memory: 256MiB }\n")),
                      "--log-level", "warn"});
  const uint16_t port = port_of(spry);
  CHECK(burn_load(port, "2000", 6, 1500).errors == 0);
  CHECK(metric(port, "spry_function_unplaced_instances{function=\"burn\"}") >= 1);
  CHECK(metric(port, "spry_function_instances{function=\"burn\",state=\"starting\"}") +
          ready_instances(port) == 2);
  CHECK(metric(port, "spry_node_memory_allocated_bytes{node=\"a\"}") == 200.0 * 1048576);
  CHECK(metric(port, "spry_node_memory_allocated_bytes{node=\"b\"}") == 200.0 * 1048576);
  // Each instance process runs on its node's CPU only.
  auto status = http_request(port, "GET", "/status");
  REQUIRE(status);
  std::set<std::string> cpus;
  std::regex pid_re("\"pid\": (\\d+)");
  for (auto it = std::sregex_iterator(status->body.begin(), status->body.end(), pid_re);
       it != std::sregex_iterator(); ++it) {
    std::ifstream proc("/proc/" + (*it)[1].str() + "/status");
    for (std::string l; std::getline(proc, l);)
      if (l.rfind("Cpus_allowed_list:", 0) == 0)
        cpus.insert(l.substr(l.find_first_not_of(" \t", 18)));
  }
  CHECK(cpus == std::set<std::string>{"0", "1"});
}

TEST_CASE("/metrics is valid Prometheus text, with the control plane's families", "[integration][scaling]") {
  // The checker itself must catch mistakes.
  CHECK(prometheus_text_error("# TYPE a counter\na 1\n").empty());
  CHECK_FALSE(prometheus_text_error("a{b=\"c} 1\n").empty());
  CHECK_FALSE(prometheus_text_error("1a 1\n").empty());
  CHECK_FALSE(prometheus_text_error("a one\n").empty());
  CHECK_FALSE(prometheus_text_error("# TYPE a gauge\na 1\nb 2\na 3\n").empty());
  CHECK_FALSE(prometheus_text_error("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\nh_sum 1\n").empty());

  temp_dir dir;
  child_process spry({SPRY_BINARY, "run",
                      dir.file("app.yaml", scaling_yaml("local",
                                                        "{ name: burn, handler: test.burn, min_instances: 0, "
                                                        "max_instances: 2 }",
                                                        kpa)),
                      "--log-level", "warn"});
  const uint16_t port = port_of(spry);
  auto r = http_request(port, "POST", "/burn", "100");
  REQUIRE(r);
  CHECK(r->status == 200);
  auto m = http_request(port, "GET", "/metrics");
  REQUIRE(m);
  CHECK(prometheus_text_error(m->body) == "");
  for (const char* family : {"spry_requests_total", "spry_function_instances", "spry_cold_start_seconds_bucket",
                             "spry_function_arrival_rate", "spry_instance_in_flight",
                             "spry_node_cpu_allocated", "spry_scaling_events_total",
                             "spry_function_execution_seconds_bucket{function=\"burn\",le=\"0.1\"} 1",
                             "spry_function_departure_rate", "spry_function_cpu_fraction"})
    CHECK_THAT(m->body, Catch::Contains(family));
  auto s = http_request(port, "GET", "/status");
  REQUIRE(s);
  CHECK(s->status == 200);
  CHECK_THAT(s->body, Catch::Contains("\"autoscaler\": \"kpa\""));
  auto [code, out] = run_command(std::string(SPRY_BINARY) + " status 127.0.0.1:" + std::to_string(port));
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("autoscaler kpa"));
  CHECK_THAT(out, Catch::Matches("(.|\n)*\nburn +[0-9]+ +2 (.|\n)*"));
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " status 127.0.0.1:1");
  CHECK(code == 1);
  CHECK_THAT(out, Catch::Contains("cannot reach a gateway at 127.0.0.1:1"));
}

TEST_CASE("LaSS deflates an idle instance's CPU with a cgroup limit and inflates it under load",
          "[integration][scaling][processes]") {
  temp_dir dir;
  child_process spry({SPRY_BINARY, "run",
                      dir.file("app.yaml",
                               scaling_yaml("tcp", "{ name: burn, handler: test.burn, min_instances: 1, "
                                                   "max_instances: 2 }",
                                            "policies:\n  autoscaler: { name: lass, interval: 100ms, params: "
                                            "{ min_cpu_fraction: 0.5, scale_to_zero_grace_s: 60 } }\n")),
                      "--log-level", "warn"});
  const uint16_t port = port_of(spry);
  auto status = http_request(port, "GET", "/status");
  REQUIRE(status);
  if (status->body.find("\"cpu_limits\": \"cgroup") == std::string::npos) {
    WARN("deflation test did not run: no writable cgroup cpu controller (" << status->body.substr(0, 300) << ")");
    return;
  }
  // The limit as the kernel has it, in cores, for the instance's group.
  auto limit_of = [&](const std::string& body) -> double {
    std::smatch m;
    if (!std::regex_search(body, m, std::regex("\"cpu_cgroup\": \"([^\"]+)\"")))
      return -2;
    const std::string group = m[1];
    std::ifstream v2(group + "/cpu.max"), v1(group + "/cpu.cfs_quota_us");
    std::string a, b;
    if (v2 >> a >> b)
      return a == "max" ? -1 : std::stod(a) / std::stod(b);
    if (v1 >> a)
      return std::stod(a) < 0 ? -1 : std::stod(a) / 100000.0;
    return -2;
  };
  // Idle, within the grace period: one instance, deflated to half its CPU.
  CHECK(wait_until([&] {
    auto s = http_request(port, "GET", "/status");
    return s && limit_of(s->body) == 0.5;
  }, std::chrono::seconds(5)));
  CHECK(metric(port, "spry_function_cpu_fraction{function=\"burn\"}") == 0.5);
  // Load: back to full size (no limit) without a cold start.
  std::atomic<bool> done{false};
  std::thread load([&] {
    while (!done)
      http_request(port, "POST", "/burn", "3000");
  });
  const bool inflated = wait_until([&] {
    return metric(port, "spry_function_cpu_fraction{function=\"burn\"}") == 1;
  }, std::chrono::seconds(5));
  done = true;
  load.join();
  CHECK(inflated);
  auto s = http_request(port, "GET", "/status");
  REQUIRE(s);
  CHECK(limit_of(s->body) == -1);
  std::smatch m;
  REQUIRE(std::regex_search(s->body, m, std::regex("\"cpu_cgroup\": \"([^\"]+)\"")));
  const std::string group = m[1];
  spry.stop(SIGTERM, std::chrono::seconds(10));
  CHECK_FALSE(std::filesystem::exists(group)); // groups are removed with the node
}

TEST_CASE("a node's instance_cpu_limit caps every instance placed on it with a cgroup limit",
          "[integration][scaling][processes]") {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
    WARN("instance_cpu_limit test did not run: needs 2 CPUs");
    return;
  }
  temp_dir dir;
  // One instance per node (memory); node b's instances get a quarter of a core, node a's none.
  child_process spry({SPRY_BINARY, "run",
                      dir.file("app.yaml",
                               scaling_yaml("tcp",
                                            "{ name: burn, handler: test.burn, min_instances: 2, "
                                            "max_instances: 2, memory: 200MiB }",
                                            "policies: { placement: spread }\n",
                                            "nodes:\n  - { name: a, cpus: \"0\", memory: 256MiB }\n"
                                            "  - { name: b, cpus: \"1\", memory: 256MiB, "
                                            "instance_cpu_limit: 0.25 }\n")),
                      "--log-level", "warn"});
  const uint16_t port = port_of(spry);
  auto first = http_request(port, "GET", "/status");
  REQUIRE(first);
  if (first->body.find("\"cpu_limits\": \"cgroup") == std::string::npos) {
    WARN("instance_cpu_limit test did not run: no writable cgroup cpu controller");
    return;
  }
  CHECK_THAT(first->body, Catch::Contains("\"instance_cpu_limit\": 0.25"));
  // Per instance: its node and the limit the kernel has for its group (cores; -1: none).
  auto limits = [&] {
    std::map<std::string, double> out;
    auto s = http_request(port, "GET", "/status");
    if (!s)
      return out;
    auto j = nlohmann::json::parse(s->body);
    for (const auto& inst : j["functions"][0]["instances"]) {
      double cores = -1;
      if (inst.contains("cpu_cgroup")) {
        const std::string group = inst["cpu_cgroup"];
        std::ifstream v2(group + "/cpu.max"), v1(group + "/cpu.cfs_quota_us");
        std::string a, b;
        if (v2 >> a >> b)
          cores = a == "max" ? -1 : std::stod(a) / std::stod(b);
        else if (v1 >> a)
          cores = std::stod(a) < 0 ? -1 : std::stod(a) / 100000.0;
      }
      out[inst["node"].get<std::string>()] = cores;
    }
    return out;
  };
  std::map<std::string, double> seen;
  CHECK(wait_until([&] {
    seen = limits();
    return seen.size() == 2 && seen["b"] == 0.25;
  }, std::chrono::seconds(5)));
  INFO("node a " << seen["a"] << ", node b " << seen["b"]);
  CHECK(seen["a"] == -1); // no limit on node a
  CHECK(seen["b"] == 0.25);
}

TEST_CASE("a function in the middle of a chain scales from zero: the request waits at the gateway and goes on",
          "[integration][scaling][processes]") {
  for (const std::string transport : {"local", "tcp"}) {
    for (const std::string routing : {"direct", "broker"}) {
      INFO(transport << " " << routing);
      temp_dir dir;
      child_process spry(
        {SPRY_BINARY, "run",
         dir.file("app.yaml",
                  "app: mid\ntransport: " + transport + "\nrouting: " + routing +
                    "\nlibraries: [" SPRY_FAULT_LIBRARY "]\ngateway: {listen: '127.0.0.1:0'}\n"
                    "policies:\n  autoscaler: { name: kpa, interval: 100ms, params: "
                    "{ scale_to_zero_grace_s: 0.3, stable_window_s: 1 } }\n"
                    "functions:\n  - { name: a, handler: test.step }\n"
                    "  - { name: b, handler: test.step, min_instances: 0 }\n"
                    "chains:\n  - { name: c, http: { path: /c }, functions: [a, b] }\n"),
         "--log-level", "warn"});
      const uint16_t port = port_of(spry);
      for (int round = 0; round < 2; ++round) {
        auto r = http_request(port, "POST", "/c", "x");
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body == "x|0|1"); // a ran, then b (started for it), on the same buffer
        // b goes back to zero; a (min 1) stays. Zero means no instance of b in any state: on
        // local an instance serves as soon as it is added, while the control plane still lists
        // it as starting until its next tick, so "none ready, none retiring" can hold before b
        // ever left (and the next round then found it warm: no second cold start).
        CHECK(wait_until([&] {
          for (const char* state : {"starting", "ready", "retiring"})
            if (metric(port, std::string("spry_function_instances{function=\"b\",state=\"") +
                               state + "\"}") != 0)
              return false;
          return true;
        }, std::chrono::seconds(10)));
        CHECK(metric(port, "spry_function_instances{function=\"a\",state=\"ready\"}") == 1);
      }
      CHECK(metric(port, "spry_cold_start_seconds_count{function=\"b\"}") == 2);
    }
  }
}

TEST_CASE("a request that waited for a chain at zero reports its cold start and a warm one does not",
          "[integration][scaling][processes]") {
  for (const std::string transport : {"local", "tcp"}) {
    INFO(transport);
    temp_dir dir;
    child_process spry(
      {SPRY_BINARY, "run",
       dir.file("app.yaml",
                "app: cold\ntransport: " + transport +
                  "\nlibraries: [" SPRY_FAULT_LIBRARY "]\ngateway: {listen: '127.0.0.1:0'}\n"
                  "policies:\n  autoscaler: { name: kpa, interval: 100ms, params: "
                  "{ scale_to_zero_grace_s: 60, stable_window_s: 1 } }\n"
                  "functions:\n  - { name: a, handler: test.step, min_instances: 0 }\n"
                  "  - { name: b, handler: test.step, min_instances: 0 }\n"
                  "chains:\n  - { name: c, http: { path: /c }, functions: [a, b] }\n"),
       "--log-level", "warn"});
    const uint16_t port = port_of(spry);
    CHECK(metric(port, "spry_function_instances{function=\"a\",state=\"ready\"}") == 0);
    CHECK(metric(port, "spry_chain_cold_start_seconds_count{chain=\"c\"}") == 0);

    // From zero: held at the gateway until the chain's instances are ready, and told so.
    auto cold = http_request(port, "POST", "/c", "x");
    REQUIRE(cold);
    CHECK(cold->status == 200);
    CHECK(cold->body == "x|0|1");
    const std::string paid = cold->header("spry-cold-start-ms");
    REQUIRE_FALSE(paid.empty());
    CHECK(std::regex_match(paid, std::regex("[0-9]+\\.[0-9]")));
    CHECK(std::stod(paid) > 0);

    // Warm (the grace period is long): no header, nothing more in the histogram.
    auto warm = http_request(port, "POST", "/c", "y");
    REQUIRE(warm);
    CHECK(warm->status == 200);
    CHECK(warm->header("spry-cold-start-ms").empty());
    CHECK(metric(port, "spry_chain_cold_start_seconds_count{chain=\"c\"}") == 1);
    CHECK(metric(port, "spry_request_duration_seconds_count{chain=\"c\"}") == 2);
    // The histogram's sum is the held time the header reported (ms, rounded to 0.1).
    CHECK(std::abs(metric(port, "spry_chain_cold_start_seconds_sum{chain=\"c\"}") * 1e3 -
                   std::stod(paid)) < 0.1);
  }
}

TEST_CASE("KPA's target burst capacity puts the activator in the path: requests wait at the gateway "
          "for a free slot, none is lost, none counts as a cold start",
          "[integration][scaling][processes]") {
  // A two-function chain, one instance each of concurrency 1, six closed-loop users: with the
  // activator always in the path (target_burst_capacity -1) every instance takes one request at
  // a time and the rest wait at the gateway, the head hop and the middle one (an instance
  // returns a request it cannot place); with 0 it is never in the path and requests queue at
  // the instances, as without the rule.
  for (const std::string transport : {"local", "tcp"}) {
    for (const int tbc : {-1, 0}) {
      INFO(transport << " target_burst_capacity " << tbc);
      temp_dir dir;
      child_process spry(
        {SPRY_BINARY, "run",
         dir.file("app.yaml",
                  "app: tbc\ntransport: " + transport +
                    "\nlibraries: [" SPRY_FAULT_LIBRARY "]\ngateway: {listen: '127.0.0.1:0'}\n"
                    "policies:\n  load_balancer: least_connections\n"
                    "  autoscaler: { name: kpa, interval: 100ms, params: "
                    "{ target_burst_capacity: " + std::to_string(tbc) + " } }\n"
                    "functions:\n"
                    "  - { name: a, handler: test.burn, min_instances: 1, max_instances: 1 }\n"
                    "  - { name: b, handler: test.burn, min_instances: 1, max_instances: 1 }\n"
                    "chains:\n  - { name: c, http: { path: /burn }, functions: [a, b], timeout: 10s,\n"
                    "      pool: { buffers: 64, buffer_size: 4KiB } }\n"),
         "--log-level", "warn"});
      const uint16_t port = port_of(spry);
      const std::string a = "{function=\"a\"}", b = "{function=\"b\"}";
      // The first decision sets it (every 100 ms).
      CHECK(wait_until([&] { return metric(port, "spry_function_activator_in_path" + a) == (tbc < 0 ? 1 : 0); },
                       std::chrono::seconds(5)));
      const auto load = burn_load(port, "1000", 6, 1500);
      CHECK(load.errors == 0);
      CHECK(load.ok > 0);
      const double held = metric(port, "spry_function_activator_holds_total" + a) +
                          metric(port, "spry_function_activator_holds_total" + b);
      if (tbc < 0) {
        CHECK(metric(port, "spry_function_activator_in_path" + b) == 1);
        CHECK(held > 0);
      } else {
        CHECK(held == 0);
      }
      // Waiting for a slot is not a cold start; nothing stays held, every buffer is back.
      CHECK(metric(port, "spry_chain_cold_start_seconds_count{chain=\"c\"}") == 0);
      CHECK(wait_until([&] { return metric(port, "spry_function_held_requests" + a) == 0 &&
                                    metric(port, "spry_function_held_requests" + b) == 0 &&
                                    metric(port, "spry_pool_buffers{chain=\"c\",state=\"in_use\"}") == 0; },
                       std::chrono::seconds(5)));
      CHECK(metric(port, "spry_requests_total{chain=\"c\",code=\"200\"}") == static_cast<double>(load.ok));
    }
  }
}

TEST_CASE("a chain warming up from zero requests every instance before the first one is ready",
          "[integration][scaling][processes]") {
  // Whole-chain warm-up: the four instances start in one batch (forks from the template overlap;
  // exec'd ones are all under way), so the chain's first request pays about one start, not one
  // per function. The supervisor takes readiness only after the batch: in the log, every
  // instance's start comes before any instance's `ready`.
  for (const std::string start : {"fork", "exec"}) {
    INFO(start);
    temp_dir dir;
    std::string functions, names;
    for (int i = 0; i < 4; ++i) {
      const std::string name = "f" + std::to_string(i);
      functions += "  - { name: " + name + ", handler: test.step, min_instances: 0 }\n";
      names += (i ? ", " : "") + name;
    }
    const std::string log = dir.path + "/stderr";
    child_process spry(
      {SPRY_BINARY, "run",
       dir.file("app.yaml",
                "app: warm\ntransport: tcp\nlibraries: [" SPRY_FAULT_LIBRARY "]\n"
                "gateway: {listen: '127.0.0.1:0'}\ninstances: {start: " + start + "}\n"
                "policies:\n  autoscaler: { name: kpa, interval: 100ms, params: "
                "{ scale_to_zero_grace_s: 60, stable_window_s: 1 } }\n"
                "functions:\n" + functions +
                "chains:\n  - { name: c, http: { path: /c }, functions: [" + names + "] }\n"),
       "--log-level", "debug"},
      log);
    const uint16_t port = port_of(spry);
    auto r = http_request(port, "POST", "/c", "x");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "x|0|1|2|3");
    const std::string text = spry::bench::read_file(log);
    const std::string started =
      start == "fork" ? " forked from the instance template as pid " : " started as pid ";
    std::vector<size_t> starts;
    for (size_t at = text.find(started); at != std::string::npos; at = text.find(started, at + 1))
      starts.push_back(at);
    const size_t first_ready = text.find(" is ready at ");
    REQUIRE(starts.size() == 4);
    REQUIRE(first_ready != std::string::npos);
    CHECK(starts.back() < first_ready);
  }
}
