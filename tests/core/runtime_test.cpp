// core/runtime.cpp on transport local (instances are actors of this process): what the control
// plane drives. The directory lists what serves, add/retire/remove move an instance in and out
// of it, the endpoint board starts each new instance from an empty queue, and a function's
// instances come up at the app's min_instances.

#include "core/app.hpp"
#include "core/runtime.hpp"
#include "policies/load_balancing/load_balancer.hpp"
#include "transports/register.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <utility>

using namespace spry;

namespace {

std::unique_ptr<core::runtime> start(core::app& a) {
  static const auto registries = [] {
    auto r = std::make_pair(std::make_unique<core::transport_registry>(),
                            std::make_unique<core::load_balancer_registry>());
    transports::register_all(*r.first);
    policies::load_balancing::register_all(*r.second);
    return r;
  }();
  core::runtime_options opts;
  opts.transports = registries.first.get();
  opts.balancers = registries.second.get();
  auto r = core::runtime::start(a.spec(), a.functions(), opts);
  if (!r)
    FAIL(r.err().message);
  return std::move(*r);
}

bool listed(core::runtime& rt, core::function_id f, core::endpoint_id ep) {
  const auto& of = rt.directory().snapshot()->of(f);
  return std::find(of.begin(), of.end(), ep) != of.end();
}

} // namespace

TEST_CASE("runtime: instances start at min_instances, join the directory when added and leave "
          "it when retired, and removal stops them",
          "[core]") {
  core::app a("rt-test");
  a.function("f", [](core::message&) {}).instances(2, 4);
  a.function("g", [](core::message&) {}, 0).instances(0, 1);
  a.chain("c").http("POST", "/c").then("f").then("g");
  a.autoscaler("kpa", {}, 2000, 8); // min 0 for g needs an autoscaler
  auto rt = start(a);
  REQUIRE(rt->in_process_instances());
  REQUIRE(rt->launch());
  CHECK(rt->directory().snapshot()->of(0).size() == 2);
  CHECK(rt->directory().snapshot()->of(1).empty());
  CHECK(rt->instance_count() == 2);
  CHECK(rt->library_paths().empty()); // functions of the program, no library

  // An endpoint that served before starts from an empty queue on the board.
  auto ep = rt->add_instance(1);
  REQUIRE(ep);
  CHECK(listed(*rt, 1, *ep));
  CHECK(rt->board().in_flight(*ep) == 0);
  CHECK(rt->instance_count() == 3);

  rt->retire_instance(*ep);
  CHECK_FALSE(listed(*rt, 1, *ep));
  CHECK(rt->retired_everywhere(*ep)); // one process: nobody else routes
  rt->remove_instance(*ep);
  CHECK(rt->instance_count() == 2);

  // Unknown functions are refused with a reason, not a crash.
  auto bad = rt->add_instance(7);
  CHECK_FALSE(bad);
  rt->stop();
}
