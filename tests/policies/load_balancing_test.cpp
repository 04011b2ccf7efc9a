#include "policies/load_balancing/least_connections.hpp"
#include "policies/load_balancing/load_balancer.hpp"
#include "policies/load_balancing/round_robin.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace spry::policies::load_balancing;

TEST_CASE("round robin visits every instance in turn", "[lb]") {
  round_robin rr;
  instance_load c[3] = {{1, 0}, {2, 5}, {3, 9}};
  std::map<size_t, int> hits;
  for (int i = 0; i < 300; ++i)
    hits[rr.pick(c, 3)]++;
  CHECK(hits[0] == 100);
  CHECK(hits[1] == 100);
  CHECK(hits[2] == 100);
}

TEST_CASE("least connections prefers the shortest queue and spreads ties", "[lb]") {
  least_connections lc;
  instance_load c[3] = {{1, 4}, {2, 1}, {3, 7}};
  for (int i = 0; i < 10; ++i)
    CHECK(lc.pick(c, 3) == 1);
  instance_load tie[2] = {{1, 0}, {2, 0}};
  std::map<size_t, int> hits;
  for (int i = 0; i < 10; ++i)
    hits[lc.pick(tie, 2)]++;
  CHECK(hits[0] == 5);
  CHECK(hits[1] == 5);
}

TEST_CASE("balancers are created by name", "[lb]") {
  load_balancer_registry r;
  register_all(r);
  auto rr = r.create("round_robin");
  REQUIRE(rr);
  CHECK((*rr)->name() == "round_robin");
  auto bad = r.create("random_walk");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.err().message, Catch::Contains("available: least_connections, round_robin"));
}
