#include "policies/load_balancing/least_connections.hpp"
#include "policies/load_balancing/load_balancer.hpp"
#include "policies/load_balancing/mu.hpp"
#include "policies/load_balancing/power_of_two_choices.hpp"
#include "policies/load_balancing/round_robin.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <vector>

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
  CHECK_THAT(bad.err().message,
             Catch::Contains("available: least_connections, mu, power_of_two_choices, round_robin"));
  for (const char* n : {"mu", "power_of_two_choices"}) {
    auto b = r.create(n);
    REQUIRE(b);
    CHECK((*b)->name() == n);
  }
}

TEST_CASE("power of two choices never picks the longest queue and is reproducible", "[lb]") {
  instance_load c[3] = {{1, 2}, {2, 9}, {3, 5}};
  power_of_two_choices p2c(42);
  std::map<size_t, int> hits;
  std::vector<size_t> first;
  for (int i = 0; i < 3000; ++i) {
    const size_t k = p2c.pick(c, 3);
    hits[k]++;
    if (i < 50)
      first.push_back(k);
  }
  // Two distinct samples out of three: the longest queue always loses; the shortest wins
  // whenever it is sampled (2 of the 3 pairs), the middle one only against the longest (1/3).
  CHECK(hits[1] == 0);
  CHECK(hits[0] == Approx(2000).margin(120));
  CHECK(hits[2] == Approx(1000).margin(120));

  p2c.reseed(42);
  for (size_t i = 0; i < first.size(); ++i)
    CHECK(p2c.pick(c, 3) == first[i]);

  // With two candidates both are always sampled: the shorter queue every time.
  instance_load two[2] = {{1, 7}, {2, 3}};
  for (int i = 0; i < 20; ++i)
    CHECK(p2c.pick(two, 2) == 1);
  CHECK(p2c.pick(two, 1) == 0);
}

TEST_CASE("mu picks the lowest estimated response time (Q+1)/Cap", "[lb]") {
  mu m;
  // Fast instance: 10 ms per request -> Cap 100/s; with 3 queued R = 4/100 = 0.04 s.
  // Slow instance: 100 ms per request -> Cap 10/s; empty, R = 1/10 = 0.1 s.
  // Least-connections would pick the slow one; Mu picks the fast one.
  instance_load c[2] = {{1, 3, 0.010, 0, 1}, {2, 0, 0.100, 0, 1}};
  for (int i = 0; i < 5; ++i)
    CHECK(m.pick(c, 2) == 0);
  // With 10 queued at the fast one, R = 11/100 = 0.11 > 0.1: now the slow one.
  c[0].queue_length = 10;
  CHECK(m.pick(c, 2) == 1);
  // Concurrency multiplies capacity: 4 workers at 100 ms = 40/s; R = 11/40 = 0.275 vs
  // (0+1)/10 = 0.1 for the slow single worker -> still 1; with Q_1 = 2, R_1 = 0.3 -> 0.
  instance_load w[2] = {{1, 10, 0.100, 0, 4}, {2, 2, 0.100, 0, 1}};
  CHECK(m.pick(w, 2) == 0);
  // The departure rate stands in when no execution time has been reported.
  instance_load d[2] = {{1, 1, 0, 50, 1}, {2, 0, 0, 10, 1}};
  CHECK(m.pick(d, 2) == 0); // 2/50 = 0.04 < 1/10
}

TEST_CASE("mu cold start: unmeasured instances count as average, none measured is least-connections",
          "[lb]") {
  mu m;
  // Measured: 100/s and 10/s -> a new instance is assumed 55/s. R_new = (1+1)/55 = 0.036 beats
  // the fast one's (3+1)/100 = 0.04 and the slow one's 1/10.
  instance_load c[3] = {{1, 3, 0.010}, {2, 0, 0.100}, {3, 1}};
  CHECK(m.pick(c, 3) == 2);
  // Nothing measured: shortest queue, ties shared.
  mu fresh;
  instance_load none[3] = {{1, 4}, {2, 1}, {3, 1}};
  std::map<size_t, int> hits;
  for (int i = 0; i < 9; ++i)
    hits[fresh.pick(none, 3)]++;
  CHECK(hits[0] == 0);
  CHECK(hits[1] == 6); // scans starting at 0 and 1 find instance 1 first, at 2 instance 2
  CHECK(hits[2] == 3);
  CHECK(mu::capacity_of(instance_load{1, 0}) == 0);
  CHECK(mu::capacity_of(instance_load{1, 0, 0.5, 0, 2}) == Approx(4.0));
}
