// Integration: hot reload of a function library in a running `spry run` gateway (transport
// local). Closed-loop clients keep a two-function chain busy while the library is replaced back
// and forth through POST /admin/libraries and `spry library reload`: every request is answered
// 200, by the old or the new generation, and every request sent after a reload was answered runs
// the new one. Broken libraries are refused with the reason while the current code keeps
// serving, and a replaced library is unmapped from the gateway once its instances are gone.
#include "bench/load/child_process.hpp"
#include "core/transport_registry.hpp"
#include "gateway/server.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

using namespace spry::test;
using spry::bench::child_process;

namespace {

std::string tag_app(const std::string& transport) {
  return "app: reload\ntransport: " + transport + "\nlibraries: [" SPRY_TAG_LIBRARY_A "]\n"
         "gateway: {listen: '127.0.0.1:0', io_threads: 2}\n"
         "functions:\n  - { name: work, handler: tag.work, max_instances: 2 }\n"
         "  - { name: finish, handler: tag.finish }\n"
         "chains:\n  - { name: t, http: { path: /t }, functions: [work, finish],\n"
         "      pool: { buffers: 128, buffer_size: 4KiB } }\n";
}

bool maps_contain(pid_t pid, const std::string& path) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::stringstream all;
  all << in.rdbuf();
  return all.str().find(path) != std::string::npos;
}

// Which generations ran a request's two hops: "a a", "b b", "a b" (a request in flight across
// the reload: its first hop ran before, its second after), anything else is a failure.
std::string generations_of(const std::optional<http_response>& r) {
  if (!r)
    return "no answer";
  if (r->status != 200)
    return std::to_string(r->status) + " " + r->body;
  auto gen = [&](const std::string& step) -> std::string {
    for (const char* g : {"a", "b"})
      if (r->body.find("|" + step + "-" + g) != std::string::npos)
        return g;
    return "?";
  };
  if (r->body.rfind("x|work-", 0) != 0)
    return "bad body " + r->body;
  return gen("work") + " " + gen("finish");
}

} // namespace

TEST_CASE("a function library hot reloaded under traffic loses no request on local",
          "[integration][reload]") {
  temp_dir dir;
  child_process spry({SPRY_BINARY, "run", dir.file("reload.yaml", tag_app("local")),
                      "--log-level", "warn"});
  const uint16_t port = port_of(spry);

  // phase: 2k while the k-th library serves (even k: a, odd k: b), 2k+1 while a reload is being
  // asked for. A client notes the phase before it sends and after its answer: a request that
  // saw one even phase throughout ran entirely after a reload was answered and before the next
  // was asked for, so it must have run that generation's code on both hops.
  std::atomic<int> phase{0};
  std::atomic<bool> stop{false};
  std::mutex mtx;
  std::map<std::string, uint64_t> by_outcome; // "sent-after-N: a a", ...
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&] {
      http_connection c(port);
      std::map<std::string, uint64_t> mine;
      while (!stop) {
        const int sent_in = phase.load();
        auto r = c.request("POST", "/t", "x");
        const int answered_in = phase.load();
        const std::string got = generations_of(r);
        const std::string want = (sent_in / 2) % 2 ? "b b" : "a a";
        if (sent_in % 2 == 0 && answered_in == sent_in && got == want)
          mine["current"]++;
        else if (sent_in % 2 == 1 || answered_in != sent_in) // a reload during its flight
          mine["across: " + got]++;
        else
          mine["wrong: " + got]++;
        if (!r)
          break;
      }
      std::lock_guard<std::mutex> guard{mtx};
      for (auto& [k, n] : mine)
        by_outcome[k] += n;
    });

  const std::string admin = "/admin/libraries?path=";
  for (int round = 0; round < 6; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    const bool to_b = round % 2 == 0;
    phase = 2 * round + 1;
    auto r = http_request(port, "POST", admin + (to_b ? SPRY_TAG_LIBRARY_B : SPRY_TAG_LIBRARY_A));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK_THAT(r->body, Catch::Contains("3 instance(s) restarted") ||
                          Catch::Contains("2 instance(s) restarted"));
    phase = 2 * round + 2;
    // Broken libraries in between are refused with the reason; the current code keeps serving.
    auto bad = http_request(port, "POST", admin + SPRY_BAD_ABI_LIBRARY);
    REQUIRE(bad);
    CHECK(bad->status == 400);
    CHECK_THAT(bad->body, Catch::Contains("function ABI"));
    auto partial = http_request(port, "POST", admin + SPRY_TAG_LIBRARY_PARTIAL);
    REQUIRE(partial);
    CHECK(partial->status == 400);
    CHECK_THAT(partial->body, Catch::Contains("lacks handler 'tag.finish'") &&
                                Catch::Contains("nothing was changed"));
    auto missing = http_request(port, "POST", admin + dir.file("none.so", "not an ELF file"));
    REQUIRE(missing);
    CHECK(missing->status == 400);
    CHECK_THAT(missing->body, Catch::Contains("cannot load function library"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  stop = true;
  for (auto& t : clients)
    t.join();

  uint64_t total = 0;
  for (auto& [k, n] : by_outcome) {
    INFO(k << ": " << n);
    // In flight across a reload, a request may run either generation on either hop (each hop
    // picks an instance when it gets there); anything else (an error, no answer, the old code
    // for a request sent after the reload was answered) is a failure.
    CHECK((k == "current" || k == "across: a a" || k == "across: b b" || k == "across: a b" ||
           k == "across: b a"));
    total += n;
  }
  CHECK(by_outcome["current"] > 0);
  std::printf("function library reloaded 6 times under traffic: %llu requests, all answered 200\n",
              static_cast<unsigned long long>(total));

  // Library a serves again (round 5); `spry library reload` drives the same endpoint.
  auto [code, out] = run_command(std::string(SPRY_BINARY) + " library reload 127.0.0.1:" +
                                 std::to_string(port) + " " SPRY_TAG_LIBRARY_B);
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("replaced " SPRY_TAG_LIBRARY_A));
  auto r = http_request(port, "POST", "/t", "x");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "x|work-b|finish-b");
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " library reload 127.0.0.1:" +
                                    std::to_string(port) + " " SPRY_TAG_LIBRARY_PARTIAL);
  CHECK(code == 1);
  CHECK_THAT(out, Catch::Contains("lacks handler 'tag.finish'"));

  // Library a's code runs nowhere now: once the control plane has stopped the drained
  // instances, the gateway unmaps it (dlclose). Polled: the drain runs on the control tick.
  bool unmapped = false;
  for (int i = 0; i < 200 && !unmapped; ++i) {
    unmapped = !maps_contain(spry.pid(), SPRY_TAG_LIBRARY_A);
    if (!unmapped)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(unmapped);
  CHECK(maps_contain(spry.pid(), SPRY_TAG_LIBRARY_B));
  auto m = http_request(port, "GET", "/metrics");
  REQUIRE(m);
  CHECK(metric_value(m->body, "spry_pool_buffers{chain=\"t\",state=\"in_use\"}") == 0.0);
}

namespace {

// Why `transport` cannot run here (shm-skmsg: not root; shm-dpdk: not built, no hugepages, not
// root), or empty.
std::string unavailable(const std::string& transport) {
  const auto* e = spry::gateway::transports().find(transport);
  if (!e)
    return "this build has no " + transport;
  if (transport == "shm-skmsg" && geteuid() != 0)
    return "shm-skmsg needs root to load its eBPF program";
  return e->missing_requirement ? e->missing_requirement() : std::string();
}

// The pids of the app's instance processes, from GET /status.
std::set<pid_t> instance_pids(uint16_t port) {
  std::set<pid_t> out;
  auto r = http_request(port, "GET", "/status");
  REQUIRE(r);
  const auto j = nlohmann::json::parse(r->body);
  for (const auto& f : j.at("functions"))
    for (const auto& i : f.at("instances"))
      if (i.contains("pid") && i.at("pid").get<int>() > 0)
        out.insert(i.at("pid").get<pid_t>());
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// Hot reload on a transport whose instances are processes: under closed-loop traffic the library
// goes a -> b -> a; each time every request is answered 200, the answers switch to the new code,
// every old instance process exits (drained), and no buffer stays in use. Between the reloads a
// bad library is refused with the reason, changing nothing; a killed instance comes back on the
// current code. Prints what a reload cost (time to the last old instance gone, p99 before and
// during).
void reload_under_load(const std::string& transport, const std::string& instances = "") {
  temp_dir dir;
  const std::string yaml = tag_app(transport) + "instances: {restart_backoff: 50ms" + instances + "}\n";
  child_process spry({SPRY_BINARY, "run", dir.file("reload.yaml", yaml), "--log-level", "warn"},
                     dir.path + "/stderr");
  const uint16_t port = port_of(spry);
  INFO(transport << instances << " gateway stderr in " << dir.path);

  struct sample {
    std::chrono::steady_clock::time_point sent;
    double ms;
  };
  std::atomic<bool> stop{false};
  // Set once every old instance is gone: a request sent after that must run the new code.
  std::atomic<int> settled_gen{0}; // 0: none yet; 'a' or 'b'
  // Requests sent while settled_gen was set and not answered yet. The next reload waits for
  // none, after clearing settled_gen: a request checked against the old generation must not
  // be in flight across the next reload (it would rightly run the next code on some hop).
  std::atomic<int> checked_in_flight{0};
  std::atomic<bool> killed{false};  // an instance was killed at the end (after the reloads)
  std::mutex mtx;
  std::map<std::string, uint64_t> outcomes;
  std::vector<sample> samples;
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&] {
      http_connection c(port);
      std::map<std::string, uint64_t> mine;
      std::vector<sample> times;
      while (!stop) {
        checked_in_flight++; // before reading settled_gen: see the reload's wait below
        const int settled = settled_gen.load();
        if (!settled)
          checked_in_flight--;
        const auto t0 = std::chrono::steady_clock::now();
        auto r = c.request("POST", "/t", "x");
        const auto t1 = std::chrono::steady_clock::now();
        times.push_back({t0, std::chrono::duration<double, std::milli>(t1 - t0).count()});
        const std::string got = generations_of(r);
        const std::string want = settled == 'b' ? "b b" : "a a";
        if (killed && got.rfind("502", 0) == 0)
          mine["502 after the kill"]++; // answered after the kill: the killed instance held it
        else if (settled && got != want)
          mine["wrong after the old instances left: " + got]++;
        else
          mine[got]++;
        if (settled)
          checked_in_flight--;
        if (!r)
          break;
      }
      std::lock_guard<std::mutex> guard{mtx};
      for (auto& [k, n] : mine)
        outcomes[k] += n;
      samples.insert(samples.end(), times.begin(), times.end());
    });

  const std::string admin = "/admin/libraries?path=";
  struct window {
    std::chrono::steady_clock::time_point from, to; // POST sent, last old instance gone
  };
  std::vector<window> reloads;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (int round = 0; round < 2; ++round) {
    const bool to_b = round == 0;
    const auto old = instance_pids(port);
    REQUIRE(old.size() >= 2);
    settled_gen = 0; // from here until the old instances are gone, either code may answer
    while (checked_in_flight.load() > 0) // requests checked against the last generation
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const auto t0 = std::chrono::steady_clock::now();
    auto r = http_request(port, "POST", admin + (to_b ? SPRY_TAG_LIBRARY_B : SPRY_TAG_LIBRARY_A));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK_THAT(r->body, Catch::Contains("instance(s) restarting on the new code"));
    // Every old instance process exits once its replacement serves and it holds nothing.
    CHECK(all_gone({old.begin(), old.end()}, std::chrono::seconds(30)));
    const auto t1 = std::chrono::steady_clock::now();
    settled_gen = to_b ? 'b' : 'a';
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto fresh = instance_pids(port);
    CHECK(fresh.size() >= 2);
    for (auto p : fresh)
      CHECK(old.count(p) == 0);
    reloads.push_back({t0, t1});

    // A bad library is refused with the reason, and nothing changes: same processes, same code.
    auto bad = http_request(port, "POST", admin + SPRY_BAD_ABI_LIBRARY);
    REQUIRE(bad);
    CHECK(bad->status == 400);
    CHECK_THAT(bad->body, Catch::Contains("function ABI"));
    auto partial = http_request(port, "POST", admin + SPRY_TAG_LIBRARY_PARTIAL);
    REQUIRE(partial);
    CHECK(partial->status == 400);
    CHECK_THAT(partial->body, Catch::Contains("lacks handler 'tag.finish'") &&
                                Catch::Contains("nothing was changed"));
    CHECK(instance_pids(port) == fresh);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }

  // A respawn after the reloads runs the current code (library a): kill one instance; the
  // supervisor restarts it from the node's current library set.
  {
    const auto pids = instance_pids(port);
    REQUIRE(!pids.empty());
    killed = true; // requests in flight to the killed one may fail (502): counted apart
    kill(*pids.begin(), SIGKILL);
    CHECK(all_gone({*pids.begin()}, std::chrono::seconds(10)));
    bool back = false;
    for (int i = 0; i < 200 && !back; ++i) {
      const auto now = instance_pids(port);
      back = now.size() == pids.size() && now.count(*pids.begin()) == 0;
      if (!back)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(back);
  }
  stop = true;
  for (auto& t : clients)
    t.join();
  uint64_t total = 0, after_kill_bad = 0;
  for (auto& [k, n] : outcomes) {
    INFO(k << ": " << n);
    // In flight across a reload a request may run either generation on either hop; every
    // request is answered 200 (the kill at the end may fail what the killed instance held).
    if (k == "502 after the kill")
      after_kill_bad += n;
    else
      CHECK((k == "a a" || k == "b b" || k == "a b" || k == "b a"));
    total += n;
  }
  CHECK(after_kill_bad <= 8); // at most what the killed instance held (concurrency, in flight)
  CHECK(outcomes["b b"] > 0);
  for (int i = 0; i < 20; ++i) {
    auto r = http_request(port, "POST", "/t", "x");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "x|work-a|finish-a");
  }
  CHECK(wait_pool_idle(port, "t") == 0);
  // What a reload costs (printed, never asserted): POST to the last old instance gone, and the
  // p99 of the requests sent during that window against those sent before the first reload.
  std::vector<double> before;
  for (const auto& x : samples)
    if (x.sent < reloads.front().from)
      before.push_back(x.ms);
  std::printf("%s%s: library reloaded twice under traffic: %llu requests; before: p50 %.2f ms, "
              "p99 %.2f ms",
              transport.c_str(), instances.c_str(), static_cast<unsigned long long>(total),
              percentile(before, 0.5), percentile(before, 0.99));
  for (const auto& w : reloads) {
    std::vector<double> during;
    for (const auto& x : samples)
      if (x.sent >= w.from && x.sent <= w.to)
        during.push_back(x.ms);
    std::printf("; reload: last old instance gone after %.0f ms, %zu requests meanwhile, p50 "
                "%.2f ms, p99 %.2f ms",
                std::chrono::duration<double, std::milli>(w.to - w.from).count(), during.size(),
                percentile(during, 0.5), percentile(during, 0.99));
  }
  std::printf("\n");
  CHECK(spry.stop(SIGTERM, std::chrono::seconds(10)) == 0);
}

} // namespace

TEST_CASE("a function library hot reloaded under traffic loses no request on tcp",
          "[integration][reload][processes]") {
  reload_under_load("tcp");
}

TEST_CASE("a function library hot reloaded under traffic loses no request on tcp with forked "
          "instances",
          "[integration][reload][processes]") {
  reload_under_load("tcp", ", start: fork");
}

TEST_CASE("a function library hot reloaded under traffic loses no request on shm-skmsg",
          "[integration][reload][processes][skmsg]") {
  if (auto why = unavailable("shm-skmsg"); !why.empty()) {
    WARN("SKIPPED: shm-skmsg did not run: " << why);
    return;
  }
  reload_under_load("shm-skmsg");
}

TEST_CASE("a function library hot reloaded under traffic loses no request on shm-dpdk",
          "[integration][reload][processes][shm-dpdk]") {
  if (auto why = unavailable("shm-dpdk"); !why.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << why);
    return;
  }
  reload_under_load("shm-dpdk");
}

TEST_CASE("spry library says what is wrong with its arguments", "[integration][reload]") {
  auto [code, out] = run_command(std::string(SPRY_BINARY) + " library frob 127.0.0.1:8080 x.so");
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("reload"));
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " library reload nonsense x.so");
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("spry library:"));
}
