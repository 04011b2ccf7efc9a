// gateway/held_requests.cpp: a request for a function with no instance waits at the gateway
// (scale from zero), asks for an instance once through the activation hook, goes on when one is
// listed, is refused beyond autoscaling.hold_limit, and gives its buffer back when its client
// already got a 504. The control plane is left out: the test plays its part (add_instance,
// release_held).
#include "tests/support/http_client.hpp"
#include "tests/support/http_gateway.hpp"

#include <catch2/catch.hpp>

#include "core/clock.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <thread>
#include <vector>

using namespace spry;
using spry::test::eventually;
using spry::test::http_gateway;
using spry::test::http_request;

namespace {

core::app zero_app(uint32_t hold_limit, uint32_t timeout_ms) {
  core::app a("held-test");
  a.function("zero", [](core::message& m) { m.write("woke up"); }, 0).instances(0, 1);
  a.chain("z").http("POST", "/z").then("zero").timeout_ms(timeout_ms);
  // Any autoscaler but fixed lets min_instances be 0 (the policy itself is not run here).
  a.autoscaler("kpa", {}, 2000, hold_limit);
  a.spec().worker_threads = 2;
  return a;
}

} // namespace

TEST_CASE("held requests: one waits for the first instance, asks for it, then is served",
          "[gateway][held]") {
  auto a = zero_app(4, 10000);
  http_gateway g(a);
  std::atomic<int> activations{0};
  g.gw->set_activation_hook([&](core::function_id f, core::chain_id c) {
    CHECK(f == 0);
    CHECK(c == 0);
    activations++;
  });
  auto answer = std::async(std::launch::async, [&] { return http_request(g.port(), "POST", "/z", "x"); });
  REQUIRE(eventually([&] { return g.gw->held(0) == 1; }));
  CHECK(activations >= 1);
  // Nothing to send it to yet: it stays.
  g.gw->release_held();
  CHECK(g.gw->held(0) == 1);

  REQUIRE(g.rt->add_instance(0));
  REQUIRE(eventually([&] {
    g.gw->release_held();
    return answer.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready;
  }));
  auto res = answer.get();
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == "woke up");
  CHECK(g.gw->held(0) == 0);
  CHECK(eventually([&] { return g.buffers_in_use() == 0; }));
}

TEST_CASE("held requests: beyond hold_limit a request is refused at once", "[gateway][held]") {
  auto a = zero_app(1, 10000);
  http_gateway g(a);
  auto first = std::async(std::launch::async, [&] { return http_request(g.port(), "POST", "/z", "1"); });
  REQUIRE(eventually([&] { return g.gw->held(0) == 1; }));
  auto second = http_request(g.port(), "POST", "/z", "2");
  REQUIRE(second);
  CHECK(second->status >= 500);
  CHECK_THAT(second->body,
             Catch::Contains("no instance of") && Catch::Contains("of chain 'z' is reachable"));
  CHECK(g.gw->held(0) == 1);
  // The one held still gets served once an instance comes.
  REQUIRE(g.rt->add_instance(0));
  REQUIRE(eventually([&] {
    g.gw->release_held();
    return first.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready;
  }));
  auto res = first.get();
  REQUIRE(res);
  CHECK(res->status == 200);
}

TEST_CASE("held requests: one whose client got a 504 gives its buffer back", "[gateway][held]") {
  auto a = zero_app(4, 100);
  http_gateway g(a);
  auto res = http_request(g.port(), "POST", "/z", "late");
  REQUIRE(res);
  CHECK(res->status == 504);
  CHECK(g.gw->held(0) == 1); // still in the waiting room, its buffer taken
  CHECK(g.buffers_in_use() == 1);
  g.gw->release_held(); // no instance, but the abandoned are swept
  CHECK(g.gw->held(0) == 0);
  CHECK(g.buffers_in_use() == 0);
}

TEST_CASE("held requests: with the activator in the path a request waits for a free slot, not "
          "for a cold start, and goes on when a request leaves the chain",
          "[gateway][held]") {
  core::app a("activator-test");
  // One instance of concurrency 1 that holds each request for a while (burning CPU).
  a.function("busy", [](core::message& m) {
     const uint64_t until = core::now_ns() + 150'000'000;
     volatile uint64_t x = 0;
     while (core::now_ns() < until)
       x = x + 1;
     m.write("done");
   }).instances(1, 1);
  a.chain("b").http("POST", "/b").then("busy").timeout_ms(10000);
  a.autoscaler("kpa", {}, 2000, 16);
  a.spec().worker_threads = 2;
  http_gateway g(a);
  std::atomic<int> activations{0};
  g.gw->set_activation_hook([&](core::function_id, core::chain_id) { activations++; });
  // The control plane's part: the decision and the mark on the instance's board slot.
  g.gw->set_activator(0, true);
  for (const auto& i : g.rt->instances())
    g.rt->board().slot(i.endpoint)->activator.store(1);
  std::vector<std::future<std::optional<spry::test::http_response>>> answers;
  for (int i = 0; i < 3; ++i)
    answers.push_back(std::async(std::launch::async, [&] { return http_request(g.port(), "POST", "/b", "x"); }));
  for (auto& f : answers) {
    auto r = f.get(); // nobody calls release_held here: completions release the next
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "done");
    CHECK(r->header("spry-cold-start-ms").empty()); // a slot wait is not a cold start
  }
  CHECK(g.gw->activator_holds(0) >= 1);
  CHECK(activations == 0); // the function has its instance: nothing to activate
  CHECK(g.gw->held(0) == 0);
  CHECK(eventually([&] { return g.buffers_in_use() == 0; }));
}
