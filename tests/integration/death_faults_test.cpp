// Integration: how an instance's death is answered. A function that kills its instance gets the
// supervisor's reason on every transport; a mid-chain instance killed while the function before it
// still routes to it: what never reached it is sent again, what did is answered with how it
// ended; an instance killed in the middle of a batch: the requests it finished and still held
// (shm-skmsg sends a batch's outputs together) are answered with how it ended, none by the chain
// timeout. Every buffer returns to its pool. Every process started is stopped by its PID.

#include "tests/integration/faults_support.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

using namespace spry::test;
using spry::bench::child_process;
using spry::bench::children_of;
using spry::bench::read_file;

TEST_CASE("a function that crashes its instance: every transport's 502 says how it ended",
          "[integration][faults]") {
  // Each request kills the instance that runs it (SIGKILL). Whether the transport sees the
  // broken connection / bounced descriptor before the supervisor reaps the process is a race;
  // the answer must name the signal either way, never the socket's error.
  for (const auto& transport : process_transports()) {
    CAPTURE(transport);
    if (auto why = unavailable(transport); !why.empty()) {
      WARN("SKIPPED on " << transport << ": " << why);
      continue;
    }
    temp_dir dir;
    const std::string yaml =
      "app: die\ntransport: " + transport + "\nlibraries: [" SPRY_FAULT_LIBRARY "]\n"
      "gateway: {listen: '127.0.0.1:0'}\n"
      "instances: { restart_backoff: 10ms, restart_backoff_max: 20ms, crash_loop_restarts: 1000 }\n"
      "functions:\n  - { name: pass, handler: test.step }\n  - { name: die, handler: test.die }\n"
      "chains:\n  - { name: one, http: { path: /one }, functions: [die] }\n"
      "  - { name: two, http: { path: /two }, functions: [pass, die] }\n";
    child_process spry({SPRY_BINARY, "run", dir.file("die.yaml", yaml), "--log-level", "error"},
                       dir.path + "/stderr");
    const uint16_t port = port_of(spry);
    int answered = 0;
    for (int i = 0; i < 12; ++i) {
      auto r = http_request(port, "POST", i % 2 ? "/two" : "/one", "x");
      REQUIRE(r);
      CHECK(r->status == 502);
      CHECK_THAT(r->body, Catch::Contains("of function 'die' was killed by signal 9"));
      answered++;
    }
    CHECK(answered == 12);
    CHECK(eventually([&] { return metric(port, "spry_pool_buffers{chain=\"one\",state=\"in_use\"}") == 0 &&
                                  metric(port, "spry_pool_buffers{chain=\"two\",state=\"in_use\"}") == 0; }));
    CHECK(spry.stop(SIGTERM, std::chrono::seconds(10)) == 0);
  }
}

TEST_CASE("a mid-chain instance killed while the function before it still routes to it: what "
          "never reached it is sent again, what did is answered with how it ended",
          "[integration][faults]") {
  // With direct routing `first` routes to `mid` from a directory the gateway pushes to it, which
  // lags behind the gateway's own: for a moment after a `mid` instance dies, `first` still sends
  // to it. Those requests never reached an instance: the transport brings them back to the
  // gateway with their payload, and the gateway sends them to another (or the restarted) `mid`
  // instance, or holds them until one is ready. The requests the killed instance had taken are
  // answered 502 with how it ended. None is lost, none is answered with a transport's error.
  // `mid` burns 1 ms per request, so that requests queue for it (in its ring on shm-dpdk, whose
  // leftovers come back undelivered when it dies). How many of each kind a run sees depends on
  // timing: only what every answer may be is checked.
  struct setup {
    const char* routing;
    int mids;
  };
  for (const auto& transport : process_transports())
    for (const setup& st : {setup{"direct", 1}, setup{"direct", 2}, setup{"broker", 1}}) {
      // Not tcp with direct routing: there a request `mid` had taken (answered 204 to `first`)
      // when it was killed is known to no process that is left (the gateway sees only its own
      // hop to the head, and `mid`'s copy died with it), so it is answered 504 at the chain's
      // timeout (the next test).
      if (transport == "tcp" && std::string(st.routing) == "direct")
        continue;
      DYNAMIC_SECTION(transport << ", " << st.routing << " routing, " << st.mids
                                << " mid instance(s)") {
        if (auto why = unavailable(transport); !why.empty()) {
          WARN("SKIPPED: " << transport << " did not run: " << why);
          continue;
        }
        temp_dir dir;
        const std::string yaml =
          "app: midkill\ntransport: " + transport + "\nrouting: " + st.routing +
          "\nlibraries: [" SPRY_FAULT_LIBRARY "]\n"
          "gateway: {listen: '127.0.0.1:0'}\n"
          "instances: { restart_backoff: 20ms, restart_backoff_max: 50ms, crash_loop_restarts: 1000 }\n"
          "functions:\n  - { name: first, handler: test.step }\n"
          "  - { name: mid, handler: test.burn, min_instances: " + std::to_string(st.mids) + " }\n"
          "  - { name: last, handler: test.step }\n"
          "chains:\n  - name: steps\n    http: { method: POST, path: /steps }\n"
          "    functions: [first, mid, last]\n    pool: { buffers: 64, buffer_size: 4KiB }\n"
          "    timeout: 8s\n";
        child_process spry({SPRY_BINARY, "run", dir.file("app.yaml", yaml), "--log-level", "warn"},
                           dir.path + "/stderr");
        const uint16_t port = port_of(spry);
        REQUIRE(wait_children(spry.pid(), 2 + st.mids).size() == 2u + st.mids);
        REQUIRE(serves(port, "/steps", "1000"));
        const auto first_answer = http_request(port, "POST", "/steps", "1000");
        REQUIRE(first_answer);
        REQUIRE(first_answer->status == 200);
        const std::string expected = first_answer->body; // the payload and two hops' marks

        constexpr int users = 8, per_user = 40, kills = 6;
        std::mutex mtx;
        std::map<std::string, int> answers; // "status body" -> count
        int unanswered = 0;
        std::vector<std::thread> load;
        for (int u = 0; u < users; ++u)
          load.emplace_back([&] {
            for (int i = 0; i < per_user; ++i) {
              auto r = http_request(port, "POST", "/steps", "1000");
              std::lock_guard<std::mutex> guard{mtx};
              if (!r)
                ++unanswered;
              else
                ++answers[std::to_string(r->status) + " " + r->body];
            }
          });
        int killed = 0;
        for (int k = 0; k < kills; ++k) {
          std::this_thread::sleep_for(std::chrono::milliseconds(60));
          // A `mid` instance that is up (its restart after the last kill included). /status
          // says pid 0 for one not started yet: never kill(0), which is this process's group.
          // The pid read may be gone by the time of the kill (it died starting): read again.
          if (eventually([&] {
                const auto pids = pids_of(port, "mid");
                return static_cast<int>(pids.size()) == st.mids &&
                       std::all_of(pids.begin(), pids.end(), [](int p) { return p > 0; }) &&
                       kill(static_cast<pid_t>(pids[static_cast<size_t>(k) % pids.size()]),
                            SIGKILL) == 0;
              }, std::chrono::seconds(10)))
            ++killed;
        }
        for (auto& t : load)
          t.join();

        int ok = 0, ended = 0, total = unanswered;
        std::string unexpected;
        for (const auto& [answer, n] : answers) {
          total += n;
          if (answer == "200 " + expected)
            ok += n;
          else if (answer.rfind("502 ", 0) == 0 &&
                   answer.find("of function 'mid' was killed by signal 9") != std::string::npos)
            ended += n;
          else
            unexpected += "\n  " + std::to_string(n) + " x " + answer;
        }
        if (!unexpected.empty() || unanswered)
          std::printf("%s\n", read_file(dir.path + "/stderr").c_str());
        std::printf("faults: %s, %s routing, %d mid instance(s): %d SIGKILLs, %d answered 200, "
                    "%d answered 502 with the signal, %.0f came back undelivered%s\n",
                    transport.c_str(), st.routing, st.mids, killed, ok, ended,
                    metric(port, "spry_requests_undelivered_total"),
                    unexpected.empty() ? "" : (", unexpected:" + unexpected).c_str());
        CHECK(killed == kills);
        CHECK(total == users * per_user);
        CHECK(unanswered == 0);
        CHECK(unexpected.empty()); // no "not reachable", no transport error, no 504
        CHECK(ok + ended == users * per_user);
        CHECK(ok > 0);
        CHECK(wait_pool_idle(port, "steps") == 0);
        CHECK(serves(port, "/steps", "1000"));
        const auto kids = children_of(spry.pid());
        auto status = spry.stop(SIGTERM, std::chrono::seconds(10));
        REQUIRE(status);
        CHECK(WEXITSTATUS(*status) == 0);
        CHECK(all_gone(kids, std::chrono::seconds(3)));
      }
    }
}

TEST_CASE("tcp, direct routing: requests a killed mid-chain instance had taken are answered at the "
          "chain's timeout, and their home buffers return to the pool then",
          "[integration][faults]") {
  if (auto why = unavailable("tcp"); !why.empty()) {
    WARN("SKIPPED: tcp did not run: " << why);
    return;
  }
  // `mid` burns 300 ms per request, one at a time: of four sent at once, one runs in it and
  // three wait in its queue when it is killed. Only the gateway's copy of each is left, and no
  // process knows where they were: the chain's timeout answers them. The gateway then takes
  // each home buffer back (nothing else maps it); before, each stayed in use until the head
  // instance ended.
  temp_dir dir;
  const std::string yaml =
    "app: midtcp\ntransport: tcp\nrouting: direct\nlibraries: [" SPRY_FAULT_LIBRARY "]\n"
    "gateway: {listen: '127.0.0.1:0'}\n"
    "instances: { restart_backoff: 20ms, restart_backoff_max: 50ms }\n"
    "functions:\n  - { name: first, handler: test.step }\n"
    "  - { name: mid, handler: test.burn, min_instances: 1 }\n"
    "  - { name: last, handler: test.step }\n"
    "chains:\n  - name: steps\n    http: { method: POST, path: /steps }\n"
    "    functions: [first, mid, last]\n    pool: { buffers: 16, buffer_size: 4KiB }\n"
    "    timeout: 1500ms\n";
  child_process spry({SPRY_BINARY, "run", dir.file("app.yaml", yaml), "--log-level", "warn"},
                     dir.path + "/stderr");
  const uint16_t port = port_of(spry);
  REQUIRE(wait_children(spry.pid(), 3).size() == 3u);
  REQUIRE(serves(port, "/steps", "1000"));
  std::vector<std::future<std::optional<http_response>>> sent;
  for (int i = 0; i < 4; ++i)
    sent.push_back(std::async(std::launch::async,
                              [port] { return http_request(port, "POST", "/steps", "300000"); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  const auto pids = pids_of(port, "mid");
  REQUIRE(pids.size() == 1u);
  REQUIRE(pids[0] > 0);
  REQUIRE(kill(static_cast<pid_t>(pids[0]), SIGKILL) == 0);
  std::map<int, int> statuses;
  for (auto& f : sent) {
    auto r = f.get();
    REQUIRE(r); // every request answered
    ++statuses[r->status];
  }
  for (const auto& [status, n] : statuses)
    std::printf("tcp direct, mid killed: %d x %d\n", n, status);
  CHECK(statuses[504] > 0); // the case this test is about happened
  CHECK(statuses[504] + statuses[502] + statuses[200] == 4);
  // Taken back when the timeout answered them, with `first` (the head instance) alive.
  CHECK(wait_pool_idle(port, "steps", std::chrono::seconds(3)) == 0);
  CHECK(serves(port, "/steps", "1000"));
  const auto kids = children_of(spry.pid());
  CHECK(spry.stop(SIGTERM, std::chrono::seconds(10)) == 0);
  CHECK(all_gone(kids, std::chrono::seconds(3)));
}

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
