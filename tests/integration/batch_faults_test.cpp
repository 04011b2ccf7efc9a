// Integration: an instance killed in the middle of a batch. A transport that runs a batch of
// requests on one thread and sends their outputs together (shm-skmsg holds what a batch's
// functions send until the batch ends) must not lose the requests that finished before the one
// that killed the process: they are answered with how the instance ended, like the rest of what
// it held, at once rather than by the chain timeout, and every buffer returns to its pool.
// Every process started is stopped by its PID.
#include "gateway/server.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

using namespace spry::test;
using spry::bench::child_process;

TEST_CASE("an instance killed in the middle of a batch: the requests it finished are answered, "
          "none by the chain timeout", "[integration][faults]") {
  for (const std::string transport : {"shm-skmsg", "tcp", "shm-dpdk"}) {
    CAPTURE(transport);
    const auto* e = spry::gateway::transports().find(transport);
    if (!e) {
      WARN("SKIPPED on " << transport << ": not in this build");
      continue;
    }
    if (e->missing_requirement)
      if (const auto why = e->missing_requirement(); !why.empty()) {
        WARN("SKIPPED on " << transport << ": " << why);
        continue;
      }
    temp_dir dir;
    // The chain timeout is far above any answer here but short enough that a request left
    // behind shows up as a 504 within the test.
    const std::string yaml =
      "app: batch\ntransport: " + transport + "\nlibraries: [" SPRY_FAULT_LIBRARY "]\n"
      "gateway: {listen: '127.0.0.1:0'}\n"
      "instances: { restart_backoff: 10ms, restart_backoff_max: 20ms, crash_loop_restarts: 1000 }\n"
      "functions:\n  - { name: gate, handler: test.die_on }\n  - { name: step, handler: test.step }\n"
      "chains:\n  - name: c\n    http: { path: /c }\n    functions: [gate, step]\n"
      "    pool: { buffers: 256, buffer_size: 4KiB }\n    timeout: 4s\n";
    child_process spry({SPRY_BINARY, "run", dir.file("batch.yaml", yaml), "--log-level", "error"},
                       dir.path + "/stderr");
    const uint16_t port = port_of(spry);
    REQUIRE(eventually([&] {
      auto r = http_request(port, "POST", "/c", "warm");
      return r && r->status == 200;
    }));
    // 12 clients keep the instance busy enough that it reads several requests per wake-up; one
    // of them now and then sends the request that kills it.
    std::mutex mtx;
    std::map<int, int> statuses;
    std::vector<std::string> odd;
    std::atomic<int> kills{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 12; ++c)
      clients.emplace_back([&, c] {
        for (int i = 0; i < 60; ++i) {
          const bool die = c == 0 && i % 10 == 5;
          auto r = http_request(port, "POST", "/c", die ? "die" : "ok");
          std::lock_guard<std::mutex> guard{mtx};
          kills += die;
          const int status = r ? r->status : -1;
          statuses[status]++;
          if (status == 200 ? r->body != "ok|1" : status != 502 || !die && r->body.find("killed by signal 9") == std::string::npos)
            if (odd.size() < 5)
              odd.push_back(std::to_string(status) + " " + (r ? r->body : std::string("<no answer>")));
        }
      });
    for (auto& t : clients)
      t.join();
    INFO("statuses: " << [&] {
      std::string s;
      for (auto [k, v] : statuses)
        s += std::to_string(k) + "x" + std::to_string(v) + " ";
      return s;
    }());
    for (const auto& o : odd)
      INFO(o);
    CHECK(statuses.count(504) == 0); // none left behind until the chain timeout
    CHECK(statuses.count(-1) == 0);
    CHECK(statuses[200] + statuses[502] == 12 * 60);
    CHECK(statuses[502] >= kills.load()); // each killing request, and what its instance held
    CHECK(odd.empty());
    CHECK(eventually([&] {
      auto m = http_request(port, "GET", "/metrics");
      return m && metric_value(m->body, "spry_pool_buffers{chain=\"c\",state=\"in_use\"}") == 0.0;
    }));
    CHECK(spry.stop(SIGTERM, std::chrono::seconds(10)) == 0);
  }
}
