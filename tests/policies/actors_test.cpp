// The actors that host policies in the control plane answer with the same decisions as the
// policies called directly.

#include "policies/autoscaling/autoscaler_actor.hpp"
#include "policies/autoscaling/kpa.hpp"
#include "policies/load_balancing/load_balancer_actor.hpp"
#include "policies/load_balancing/mu.hpp"
#include "policies/placement/mu.hpp"
#include "policies/placement/placement_actor.hpp"
#include "policies/prediction/linear_regression.hpp"
#include "policies/prediction/rate_predictor_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>

#include <catch2/catch.hpp>

using namespace spry::policies;

namespace {

struct system_fixture {
  system_fixture() {
    cfg.set("scheduler.max-threads", size_t{1});
    cfg.set("logger.verbosity", caf::atom("quiet"));
  }
  caf::actor_system_config cfg;
};

} // namespace

TEST_CASE("policy actors answer like the policies they host", "[actors]") {
  system_fixture fx;
  caf::actor_system sys{fx.cfg};
  caf::scoped_actor self{sys};

  SECTION("load balancer: Mu's choice, and an error for no candidates") {
    auto lb = load_balancing::spawn_load_balancer_actor(
      sys, std::make_unique<load_balancing::mu>());
    std::vector<load_balancing::instance_load> c{{1, 3, 0.010}, {2, 0, 0.100}};
    uint64_t picked = 99;
    self->request(lb, caf::infinite, load_balancing::lb_pick_atom::value, c)
      .receive([&](uint64_t i) { picked = i; }, [&](caf::error& e) { FAIL(sys.render(e)); });
    CHECK(picked == 0);
    bool failed = false;
    self->request(lb, caf::infinite, load_balancing::lb_pick_atom::value,
                  std::vector<load_balancing::instance_load>{})
      .receive([&](uint64_t) {}, [&](caf::error&) { failed = true; });
    CHECK(failed);
    self->send_exit(lb, caf::exit_reason::user_shutdown);
  }

  SECTION("autoscaler: KPA sizing over a tick") {
    autoscaling::kpa_options o;
    o.target_concurrency = 10;
    auto as = autoscaling::spawn_autoscaler_actor(sys, std::make_unique<autoscaling::kpa>(o));
    autoscaling::scaling_snapshot s;
    s.now_s = 2;
    autoscaling::function_metrics m;
    m.instance_concurrency = 0;
    m.ready_instances = 3;
    m.concurrency = 20; // 20 / 7 -> 3
    s.functions = {m, m};
    s.functions[1].concurrency = 0.5; // 1
    std::vector<autoscaling::scaling_decision> out;
    self->request(as, caf::infinite, autoscaling::scale_atom::value, s)
      .receive([&](std::vector<autoscaling::scaling_decision>& d) { out = std::move(d); },
               [&](caf::error& e) { FAIL(sys.render(e)); });
    REQUIRE(out.size() == 2);
    CHECK(out[0].instances == 3);
    CHECK(out[1].instances == 1);
    self->send_exit(as, caf::exit_reason::user_shutdown);
  }

  SECTION("placement: DRF order through the actor") {
    auto pl = placement::spawn_placement_actor(sys, std::make_unique<placement::mu>());
    placement::placement_request r;
    placement::node_state n;
    n.cpu_capacity = 9;
    n.memory_capacity = 18;
    r.nodes = {n};
    placement::placement_demand a, b;
    a.instances = b.instances = 10;
    a.cpu = 1, a.memory = 4;
    b.cpu = 3, b.memory = 1;
    b.function = 1;
    r.demands = {a, b};
    placement::placement_result out;
    self->request(pl, caf::infinite, placement::place_atom::value, r)
      .receive([&](placement::placement_result& x) { out = std::move(x); },
               [&](caf::error& e) { FAIL(sys.render(e)); });
    CHECK(out.assignments.size() == 5);
    CHECK(out.unplaced == std::vector<uint32_t>{7, 8});
    self->send_exit(pl, caf::exit_reason::user_shutdown);
  }

  SECTION("rate predictor: observations in order, then a prediction") {
    auto rp = prediction::spawn_rate_predictor_actor(
      sys, std::make_unique<prediction::linear_regression>(4));
    for (int i = 0; i < 4; ++i)
      self->send(rp, prediction::observe_atom::value, 2.0 * i, 10.0 + 3 * i);
    double predicted = -1;
    self->request(rp, caf::infinite, prediction::predict_atom::value, 2.0)
      .receive([&](double v) { predicted = v; }, [&](caf::error& e) { FAIL(sys.render(e)); });
    CHECK(predicted == Approx(22)); // slope 1.5/s: 19 at t = 6, 22 at t = 8
    self->send_exit(rp, caf::exit_reason::user_shutdown);
  }
}
