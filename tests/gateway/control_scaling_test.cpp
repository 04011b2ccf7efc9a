// The control plane's scaling actuation on transport local (instances are actors, so this runs
// anywhere): a target starts instances, a lower one drains and stops them without losing a
// request, and a hot reload replaces every instance and drains the old ones.
#include "core/app.hpp"
#include "core/runtime.hpp"
#include "gateway/control_plane.hpp"
#include "gateway/server.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

using namespace spry;
using spry::test::eventually;
using spry::test::http_request;

namespace {

// Instances of the app's first function by state ("starting", "ready", "retiring"), and their
// endpoints, from the control plane's status.
struct instances_view {
  std::map<std::string, int> by_state;
  std::set<uint32_t> endpoints;
  int total() const { return static_cast<int>(endpoints.size()); }
};

instances_view instances_of(gateway::server& s) {
  instances_view v;
  const auto j = nlohmann::json::parse(s.control().status_json());
  for (const auto& i : j.at("functions")[0].at("instances")) {
    v.by_state[i.at("state").get<std::string>()]++;
    v.endpoints.insert(i.at("endpoint").get<uint32_t>());
  }
  return v;
}

uint32_t pool_in_use(gateway::server& s) {
  uint32_t n = 0;
  for (auto& p : s.runtime().pools())
    n += p.stats().in_use;
  return n;
}

// Closed-loop clients posting to `path` until stopped; counts answers by status.
struct traffic {
  traffic(uint16_t port, std::string path) {
    for (int i = 0; i < 2; ++i)
      threads.emplace_back([this, port, path] {
        while (!stop) {
          auto r = http_request(port, "POST", path, "load");
          (r && r->status == 200 ? ok : bad)++;
        }
      });
  }
  void finish() {
    stop = true;
    for (auto& t : threads)
      t.join();
    threads.clear();
  }
  ~traffic() {
    if (!threads.empty())
      finish();
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ok{0}, bad{0};
  std::vector<std::thread> threads;
};

} // namespace

TEST_CASE("control plane: targets start instances, and a lower target drains them without "
          "losing a request",
          "[gateway][control_plane]") {
  core::app a("scaling");
  a.function("echo", [](core::message&) {}).instances(1, 4);
  a.chain("echo").http("POST", "/echo").then("echo");
  a.autoscaler("fixed", {}, 100);
  a.spec().gateway.port = 0;
  a.spec().worker_threads = 2;
  auto s = gateway::server::start(a.spec(), a.functions());
  REQUIRE(s);
  auto& srv = **s;
  CHECK(instances_of(srv).total() == 1);
  traffic load(srv.port(), "/echo");

  srv.control().set_targets({3});
  CHECK(eventually([&] { return instances_of(srv).by_state["ready"] == 3; }));
  srv.control().set_targets({1});
  CHECK(eventually([&] { return instances_of(srv).total() == 1; }));
  CHECK(instances_of(srv).by_state["ready"] == 1);
  // Above the function's maximum: clamped to it.
  srv.control().set_targets({9});
  CHECK(eventually([&] { return instances_of(srv).by_state["ready"] == 4; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(instances_of(srv).total() == 4);
  srv.control().set_targets({1});
  CHECK(eventually([&] { return instances_of(srv).total() == 1; }));
  load.finish();
  CHECK(load.ok > 0);
  CHECK(load.bad == 0);
  CHECK(eventually([&] { return pool_in_use(srv) == 0; }));
}

TEST_CASE("control plane: a hot reload replaces every instance and drains the old ones",
          "[gateway][control_plane]") {
  core::app a("reload");
  a.function("up", [](core::message&) {}).instances(2, 2);
  a.spec().functions[0].handler = "hello.uppercase";
  a.spec().libraries.push_back(SPRY_HELLO_LIBRARY);
  a.chain("up").http("POST", "/up").then("up");
  a.autoscaler("fixed", {}, 100);
  a.spec().gateway.port = 0;
  a.spec().worker_threads = 2;
  auto s = gateway::server::start(a.spec(), a.functions());
  REQUIRE(s);
  auto& srv = **s;
  const auto before = instances_of(srv).endpoints;
  REQUIRE(before.size() == 2);
  traffic load(srv.port(), "/up");

  // A library that does not load changes nothing.
  auto bad = srv.control().reload_library("/nonexistent/libnothing.so");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.err().message, Catch::Contains("cannot load function library"));
  CHECK(instances_of(srv).endpoints == before);

  auto done = srv.control().reload_library(SPRY_HELLO_LIBRARY);
  REQUIRE(done);
  CHECK_THAT(*done, Catch::Contains("2 instance(s) restarted"));
  // New instances serve at once (in-process); the old ones leave and stop once drained.
  CHECK(eventually([&] {
    const auto now = instances_of(srv);
    if (now.total() != 2)
      return false;
    for (auto ep : now.endpoints)
      if (before.count(ep))
        return false;
    return true;
  }));
  load.finish();
  CHECK(load.ok > 0);
  CHECK(load.bad == 0);
  auto r = http_request(srv.port(), "POST", "/up", "shout");
  REQUIRE(r);
  CHECK(r->body == "SHOUT");
  CHECK(eventually([&] { return pool_in_use(srv) == 0; }));
}
