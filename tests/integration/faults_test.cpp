// Integration: faults injected into running apps. Instances killed with SIGKILL at random points
// under load, an instance stopped (SIGSTOP) past the chain timeout, a pool filled, the gateway's
// file descriptors exhausted, forged descriptors sent through the shared-memory transports, and
// chain isolation (how an instance's death is answered: death_faults_test.cpp). For each: every request is answered with a defined status, nothing leaks (the
// pool is full again, the fd count back to its baseline) and the gateway still serves.
// Every process started is stopped by its PID.

#include "core/config.hpp"
#include "core/instance_supervisor.hpp"
#include "core/runtime.hpp"
#include "core/transport_registry.hpp"
#include "gateway/server.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/processes.hpp"
#include "tests/integration/faults_support.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <netinet/in.h>
#include <random>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace spry::test;
using spry::bench::child_process;
using spry::bench::children_of;
using spry::bench::read_file;


TEST_CASE("random SIGKILLs under load: every request answered and nothing leaked",
          "[integration][faults]") {
  const uint64_t seed = seed_of_run();
  for (const auto& transport : process_transports()) {
    DYNAMIC_SECTION(transport) {
      if (auto why = unavailable(transport); !why.empty()) {
        WARN("SKIPPED: " << transport << " did not run: " << why);
        continue;
      }
      INFO("seed " << seed << " (SPRY_TEST_SEED repeats this run)");
      std::mt19937_64 rng(seed);
      temp_dir dir;
      // One keep-alive connection per peer on tcp: how many the gateway keeps open otherwise
      // depends on how fast the instances answer (slower under the sanitizers), and the check
      // below is that connections to dead incarnations are closed, not how many are pooled.
      const std::string one_connection = transport == "tcp" ? "tcp: {connections_per_peer: 1}\n" : "";
      // Crash loops are not what this test is about: with the default threshold (5 exits within
      // 30 s) the kills below, when 5 of the 6 land on one function, make the supervisor call it
      // crash-looping and hold its next restart for restart_backoff_max (10 s), and the gateway
      // answers 502 for as long as serves() waits. A threshold above the number of kills keeps
      // every kill an ordinary crash, restarted after restart_backoff.
      constexpr int max_kills = 6;
      const std::string instances = "instances: {restart_backoff: 20ms, crash_loop_restarts: " +
                                    std::to_string(max_kills + 1) + "}\n";
      child_process spry({SPRY_BINARY, "run",
                          dir.file("app.yaml", hello_yaml(transport, instances + one_connection)),
                          "--log-level", "error"},
                         dir.path + "/stderr");
      const uint16_t port = port_of(spry);
      REQUIRE(wait_children(spry.pid(), 2).size() == 2);
      REQUIRE(serves(port));
      const size_t fds_before = fd_count(spry.pid());
      int kills = 0;
      auto out = under_load(port, 4, 150, [&] {
        for (int k = 0; k < max_kills; ++k) {
          std::this_thread::sleep_for(
            std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 150)(rng)));
          auto kids = children_of(spry.pid());
          if (kids.empty())
            continue; // all restarting at this instant
          const pid_t victim = kids[std::uniform_int_distribution<size_t>(0, kids.size() - 1)(rng)];
          if (kill(victim, SIGKILL) == 0)
            ++kills;
        }
      });
      std::printf("faults: %s, seed %llu: %d SIGKILLs, statuses:", transport.c_str(),
                  static_cast<unsigned long long>(seed), kills);
      for (const auto& [code, n] : out.statuses)
        std::printf(" %d x%d", code, n);
      std::printf(", unanswered %d\n", out.no_answer);
      CHECK(kills > 0);
      CHECK(out.total() == 600);
      CHECK(out.outside({200, 502, 503}) == 0); // a dead instance's requests: 502, never lost
      CHECK(out.ok > 0);
      CHECK(serves(port));
      CHECK(wait_pool_idle(port) == 0);
      // Connections to dead incarnations are closed: the gateway holds no more descriptors than
      // before (sockets of restarted instances replace the old ones).
      CHECK(eventually([&] { return fd_count(spry.pid()) <= fds_before + 2; }));
      const auto kids = children_of(spry.pid());
      auto status = spry.stop(SIGTERM, std::chrono::seconds(10));
      REQUIRE(status);
      CHECK(WEXITSTATUS(*status) == 0);
      CHECK(all_gone(kids, std::chrono::seconds(3)));
    }
  }
}

namespace {

// `n` requests at once; their answers (nullopt: none within 20 s) and how long each took.
std::vector<std::pair<std::optional<http_response>, double>> at_once(uint16_t port, int n) {
  std::vector<std::pair<std::optional<http_response>, double>> out(n);
  std::vector<std::thread> users;
  for (int i = 0; i < n; ++i)
    users.emplace_back([&, i] {
      const auto t0 = std::chrono::steady_clock::now();
      out[i].first = http_request(port, "POST", "/hello", "while restarting");
      out[i].second = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
  for (auto& u : users)
    u.join();
  return out;
}

// SIGKILLs every instance and waits until the gateway has reaped them all.
void kill_all_instances(pid_t gateway) {
  const auto kids = children_of(gateway);
  REQUIRE(!kids.empty());
  for (pid_t k : kids)
    kill(k, SIGKILL);
  REQUIRE(eventually([&] {
    for (pid_t k : kids)
      if (::kill(k, 0) == 0)
        return false;
    return true;
  }));
  // Reaped, so the supervisor has taken them out of the directory a few instructions later.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

} // namespace

TEST_CASE("requests that arrive while a function's only instance restarts wait for it and a "
          "crash loop fails them with the reason", "[integration][faults]") {
  for (const auto& transport : process_transports()) {
    DYNAMIC_SECTION(transport) {
      if (auto why = unavailable(transport); !why.empty()) {
        WARN("SKIPPED: " << transport << " did not run: " << why);
        continue;
      }
      temp_dir dir;
      const std::string marker = dir.path + "/crash";
      ::setenv("SPRY_TEST_CRASH_IF_EXISTS", marker.c_str(), 1);
      // min_instances 1 and the fixed policy: nothing scales; only restarts bring instances back.
      child_process spry({SPRY_BINARY, "run",
                          dir.file("app.yaml",
                                   hello_yaml(transport,
                                              "instances: {restart_backoff: 400ms, "
                                              "restart_backoff_max: 400ms, crash_loop_restarts: 3, "
                                              "crash_loop_window: 60s}\n")),
                          "--log-level", "error"},
                         dir.path + "/stderr");
      ::unsetenv("SPRY_TEST_CRASH_IF_EXISTS");
      const uint16_t port = port_of(spry);
      REQUIRE(wait_children(spry.pid(), 2).size() == 2);
      REQUIRE(serves(port));

      // Both functions' only instances die; requests that arrive during the 400 ms before their
      // restart are held at the gateway and answered once the instances are back.
      kill_all_instances(spry.pid());
      for (const auto& [r, seconds] : at_once(port, 4)) {
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(r->body == R"({"text":"WHILE RESTARTING","words":2,"bytes":16})");
        CHECK(seconds < 9.0); // well before the chain's 10 s timeout
      }
      CHECK(wait_pool_idle(port) == 0);

      // Now every restart crashes: after 3 exits the function is crash-looping and what waits
      // for it is failed with the reason, not left to time out.
      { std::ofstream touch(marker); }
      kill_all_instances(spry.pid());
      for (const auto& [r, seconds] : at_once(port, 3)) {
        REQUIRE(r);
        CHECK(r->status == 502);
        CHECK_THAT(r->body, Catch::Contains("crash-looping"));
        CHECK(seconds < 9.0);
      }
      auto health = http_request(port, "GET", "/healthz");
      REQUIRE(health);
      CHECK(health->status == 200);
      // A crash-looping function is not waited for: the next request fails at once.
      const auto t0 = std::chrono::steady_clock::now();
      auto fast = http_request(port, "POST", "/hello", "fast");
      REQUIRE(fast);
      CHECK(fast->status == 502);
      CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));

      // The cause goes away: the next restarts come up and the chain serves again.
      std::filesystem::remove(marker);
      CHECK(serves(port));
      CHECK(wait_pool_idle(port) == 0);
      const auto kids = children_of(spry.pid());
      auto status = spry.stop(SIGTERM, std::chrono::seconds(10));
      REQUIRE(status);
      CHECK(WEXITSTATUS(*status) == 0);
      CHECK(all_gone(kids, std::chrono::seconds(3)));
    }
  }
}

TEST_CASE("an instance stopped past the chain timeout: 504s and its buffers come back when it "
          "resumes", "[integration][faults]") {
  for (const auto& transport : process_transports()) {
    DYNAMIC_SECTION(transport) {
      if (auto why = unavailable(transport); !why.empty()) {
        WARN("SKIPPED: " << transport << " did not run: " << why);
        continue;
      }
      temp_dir dir;
      child_process spry({SPRY_BINARY, "run",
                          dir.file("app.yaml", hello_yaml(transport, "", "timeout: 300ms")),
                          "--log-level", "error"},
                         dir.path + "/stderr");
      const uint16_t port = port_of(spry);
      REQUIRE(wait_children(spry.pid(), 2).size() == 2);
      REQUIRE(serves(port));
      const auto upper = pids_of(port, "upper");
      REQUIRE(upper.size() == 1);
      REQUIRE(kill(static_cast<pid_t>(upper[0]), SIGSTOP) == 0);
      // kill() returns before the group stop is complete: wait until /proc says "stopped".
      REQUIRE(eventually([&] {
        return read_file("/proc/" + std::to_string(upper[0]) + "/stat").find(") T ") != std::string::npos;
      }));
      const auto t0 = std::chrono::steady_clock::now();
      auto out = under_load(port, 6, 1, [] {});
      const auto took = std::chrono::steady_clock::now() - t0;
      std::string seen;
      for (const auto& [code, n] : out.statuses)
        seen += " " + std::to_string(code) + " x" + std::to_string(n);
      INFO("statuses:" << seen << ", unanswered " << out.no_answer);
      CHECK(out.statuses[504] == 6); // answered at the deadline, not left hanging
      CHECK(took < std::chrono::seconds(5));
      if (transport == "tcp") {
        // No other process maps tcp's buffers: the timeout took each back from the transport
        // (core/home_buffer.hpp), and the stopped instance's late answers will be refused.
        CHECK(wait_pool_idle(port) == 0);
      } else {
        // The chain still holds the buffers the stopped instance has: they are not reused
        // while a process may write them.
        CHECK(in_use(port) > 0);
      }
      REQUIRE(kill(static_cast<pid_t>(upper[0]), SIGCONT) == 0);
      CHECK(wait_pool_idle(port) == 0);
      CHECK(serves(port));
      auto again = under_load(port, 4, 20, [] {});
      CHECK(again.ok == 80);
      CHECK(pids_of(port, "upper") == upper); // stopped for a while is not dead
      const auto kids = children_of(spry.pid());
      REQUIRE(spry.stop(SIGTERM, std::chrono::seconds(10)));
      CHECK(all_gone(kids, std::chrono::seconds(3)));
    }
  }
}

TEST_CASE("a full pool answers 503 with Retry-After and recovers", "[integration][faults]") {
  for (const std::string transport : {"local", "tcp", "shm-skmsg", "shm-dpdk"}) {
    DYNAMIC_SECTION(transport) {
      if (auto why = unavailable(transport); !why.empty()) {
        WARN("SKIPPED: " << transport << " did not run: " << why);
        continue;
      }
      temp_dir dir;
      const std::string yaml =
        "app: faults\ntransport: " + transport + "\nlibraries: [" SPRY_FAULT_LIBRARY "]\n"
        "gateway: {listen: '127.0.0.1:0'}\n"
        "functions:\n  - { name: burn, handler: test.burn }\n"
        "chains:\n  - name: burn\n    http: { method: POST, path: /burn }\n"
        "    functions: [burn]\n    pool: { buffers: 4, buffer_size: 4KiB }\n";
      child_process spry({SPRY_BINARY, "run", dir.file("app.yaml", yaml), "--log-level", "error"},
                         dir.path + "/stderr");
      const uint16_t port = port_of(spry);
      REQUIRE(serves(port, "/burn", "100"));
      // 12 clients, 4 buffers, 20 ms of CPU per request: most of them find the pool empty.
      auto out = under_load(port, 12, 8, [] {}, "/burn", "20000");
      std::printf("faults: full pool on %s: 200 x%d, 503 x%d\n", transport.c_str(),
                  out.statuses[200], out.statuses[503]);
      CHECK(out.total() == 96);
      CHECK(out.outside({200, 503}) == 0);
      CHECK(out.statuses[503] > 0);
      CHECK(out.ok > 0);
      auto r = http_request(port, "POST", "/burn", "100");
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(wait_pool_idle(port, "burn") == 0);
      CHECK(metric(port, "spry_pool_alloc_failures_total{chain=\"burn\"}") == out.statuses[503]);
      REQUIRE(spry.stop(SIGTERM, std::chrono::seconds(10)));
    }
  }
}

TEST_CASE("out of file descriptors: connections are answered 503 and the gateway serves again",
          "[integration][faults]") {
  for (const std::string transport : {"local", "tcp"}) {
    DYNAMIC_SECTION(transport) {
      temp_dir dir;
      // A low descriptor limit for the gateway only (prlimit execs spry: same pid).
      child_process spry({"/usr/bin/prlimit", "--nofile=96:96", SPRY_BINARY, "run",
                          dir.file("app.yaml", hello_yaml(transport, "")), "--log-level", "warn"},
                         dir.path + "/stderr");
      const uint16_t port = port_of(spry);
      REQUIRE(serves(port));
      const size_t fds_before = fd_count(spry.pid());
      // Idle connections until the gateway has no descriptor left, and more.
      std::vector<int> held;
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      for (int i = 0; i < 150; ++i) {
        const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(s >= 0);
        if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
          close(s);
          break;
        }
        held.push_back(s);
      }
      // A request now is answered 503 (shed at accept), not left in the backlog.
      auto shed = http_request(port, "POST", "/hello", "no fd left");
      REQUIRE(shed);
      CHECK(shed->status == 503);
      CHECK_THAT(shed->body, Catch::Contains("out of file descriptors"));
      for (int s : held)
        close(s);
      CHECK(serves(port));
      CHECK(metric(port, "spry_http_connections_shed_total") > 0);
      CHECK(eventually([&] { return fd_count(spry.pid()) <= fds_before + 2; }));
      CHECK(wait_pool_idle(port) == 0);
      // Log lines about it are rate limited, not one per failed accept.
      const auto log = read_file(dir.path + "/stderr");
      size_t lines = 0;
      for (size_t at = 0; (at = log.find("out of file descriptors", at)) != std::string::npos; ++at)
        ++lines;
      CHECK(lines >= 1);
      CHECK(lines <= 10);
      const auto kids = children_of(spry.pid());
      REQUIRE(spry.stop(SIGTERM, std::chrono::seconds(10)));
      CHECK(all_gone(kids, std::chrono::seconds(3)));
    }
  }
}

// Two chains in one app: instances of `a` must not see `b`'s pool, and forged descriptors sent
// straight into the shared-memory transport are refused and counted, never followed.
TEST_CASE("forged descriptors are refused and counted and chains cannot reach each other's pool",
          "[integration][faults]") {
  for (const std::string transport : {"shm-skmsg", "shm-dpdk"}) {
    DYNAMIC_SECTION(transport) {
      if (auto why = unavailable(transport); !why.empty()) {
        WARN("SKIPPED: " << transport << " did not run: " << why);
        continue;
      }
      temp_dir dir;
      const auto yaml = dir.file(
        "app.yaml",
        "app: isolation\ntransport: " + transport + "\nlibraries: [" SPRY_FAULT_LIBRARY "]\n"
        "gateway: {listen: '127.0.0.1:0'}\n"
        "functions:\n  - { name: a, handler: fault.upper }\n  - { name: b, handler: fault.count }\n"
        "chains:\n  - { name: ca, http: { method: POST, path: /a }, functions: [a],"
        " pool: { buffers: 16, buffer_size: 4KiB } }\n"
        "  - { name: cb, http: { method: POST, path: /b }, functions: [b],"
        " pool: { buffers: 16, buffer_size: 4KiB } }\n");
      auto app = spry::core::load_app_file(yaml, spry::gateway::transports());
      REQUIRE(app);
      spry::core::launch_spec launcher;
      launcher.executable = SPRY_BINARY;
      launcher.argv = {SPRY_BINARY, "run", yaml, "--log-level", "error"};
      auto srv = spry::gateway::server::start(std::move(*app), {}, launcher);
      REQUIRE(srv);
      const uint16_t port = (*srv)->port();
      auto& rt = (*srv)->runtime();
      REQUIRE(serves(port, "/a", "x"));
      REQUIRE(serves(port, "/b", "x"));

      // Isolation: a's process maps only chain ca's pool and holds no descriptor of cb's.
      const auto a_pids = pids_of(port, "a");
      REQUIRE(a_pids.size() == 1);
      const std::string maps = read_file("/proc/" + std::to_string(a_pids[0]) + "/maps");
      CHECK_THAT(maps, Catch::Contains("memfd:spry-isolation-ca"));
      CHECK_THAT(maps, !Catch::Contains("memfd:spry-isolation-cb"));
      std::string fds;
      for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(a_pids[0]) + "/fd")) {
        std::error_code ec;
        fds += std::filesystem::read_symlink(e.path(), ec).string() + "\n";
      }
      CHECK_THAT(fds, Catch::Contains("memfd:spry-isolation-ca"));
      CHECK_THAT(fds, !Catch::Contains("memfd:spry-isolation-cb"));

      const auto a_eps = instances_of(port, "a", "endpoint");
      REQUIRE(a_eps.size() == 1);
      const auto a_ep = static_cast<spry::core::endpoint_id>(a_eps[0]);
      const std::string counted = "spry_instance_rejected_descriptors_total{function=\"a\",instance=\"" +
                                  std::to_string(a_ep) + "\",transport=\"" + transport + "\"}";
      CHECK(metric(port, counted) == 0);

      auto& pa = rt.pools()[0];
      auto& pb = rt.pools()[1];
      // A real buffer of chain cb, allocated here (the gateway's side), to aim forgeries at.
      auto* victim = pb.alloc();
      REQUIRE(victim);
      victim->request_id = 777;
      const uint64_t victim_offset = pb.offset_of(victim);
      auto* held_a = pa.alloc();
      REQUIRE(held_a);
      held_a->request_id = 4242;
      held_a->owner = spry::core::gateway_endpoint; // not handed to a
      const uint64_t held_offset = pa.offset_of(held_a);
      auto* idle_a = pa.alloc();
      REQUIRE(idle_a);
      const uint64_t a_offset = pa.offset_of(idle_a);
      pa.release(idle_a); // an offset in ca's pool whose buffer is free
      REQUIRE(a_offset != held_offset);

      using spry::core::descriptor;
      using spry::core::tag_of;
      const std::vector<descriptor> forged = {
        {a_ep, 9, 0, 64},                                        // no such pool
        {a_ep, 0, 0, uint64_t{1} << 40},                          // far outside ca's pool
        {a_ep, 0, 0, 3},                                          // inside, not a buffer boundary
        {a_ep, 1, tag_of(777), victim_offset},                    // cb's buffer: not mapped in a
        {a_ep, 0, tag_of(1), a_offset},                           // a free buffer
        {a_ep, 0, tag_of(4243), held_offset},                     // wrong request (stale tag)
        {a_ep, 0, tag_of(4242), held_offset},                     // right tag, never handed to a
      };
      for (const auto& d : forged)
        CHECK(rt.tp().send_forged(d) == spry::core::send_status::ok);
      // shm-dpdk drops descriptors whose buffer is not on its way to the endpoint before they
      // reach the instance (its poller checks the ownership word); the others arrive and are
      // refused by the instance. Either way none is followed, and every one is counted.
      const double rejected_before = metric(port, "spry_rejected_descriptors_total{endpoint=\"gateway\"}");
      const double expect_at_instance = transport == "shm-dpdk" ? 5 : 7;
      CHECK(eventually([&] { return metric(port, counted) >= expect_at_instance; }));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      CHECK(metric(port, counted) == expect_at_instance);
      std::printf("faults: %s: %zu forged descriptors sent to instance %u: %.0f refused by it\n",
                  transport.c_str(), forged.size(), a_ep, metric(port, counted));

      // Forged completions at the gateway: a buffer an instance holds (a request in flight would
      // be answered early and its buffer freed under the instance) and a replay of a finished
      // request.
      const std::vector<descriptor> at_gateway = {
        {spry::core::gateway_endpoint, 0, tag_of(4242), held_offset}, // allowed only if owner 0
        {spry::core::gateway_endpoint, 1, tag_of(777), victim_offset},
        {spry::core::gateway_endpoint, 0, 0, uint64_t{1} << 40},
      };
      held_a->owner = a_ep; // as if a were working on it
      victim->owner = a_ep;
      for (const auto& d : at_gateway)
        CHECK(rt.tp().send_forged(d) == spry::core::send_status::ok);
      const double expect_at_gateway = rejected_before + (transport == "shm-dpdk" ? 1 : 3);
      CHECK(eventually([&] {
        return metric(port, "spry_rejected_descriptors_total{endpoint=\"gateway\"}") >= expect_at_gateway;
      }));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      CHECK(metric(port, "spry_rejected_descriptors_total{endpoint=\"gateway\"}") == expect_at_gateway);
      // Nothing was answered or freed by the forgeries: the two buffers are still allocated.
      CHECK(pa.resolve(held_offset) == held_a);
      CHECK(pb.resolve(victim_offset) == victim);
      pa.release(held_a);
      pb.release(victim);

      // The chains still serve, byte for byte, and every buffer is back.
      auto r = http_request(port, "POST", "/a", "still here");
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(r->body == "STILL HERE");
      auto rb = http_request(port, "POST", "/b", "still here");
      REQUIRE(rb);
      CHECK(rb->status == 200);
      CHECK(wait_pool_idle(port, "ca") == 0);
      CHECK(wait_pool_idle(port, "cb") == 0);
      const auto kids = children_of(getpid());
      (*srv)->stop(1000);
      srv->reset();
      CHECK(all_gone(kids, std::chrono::seconds(3)));
    }
  }
}
