#include "policies/placement/mu.hpp"
#include "policies/placement/placement_engine.hpp"
#include "policies/placement/spread.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace spry::policies;
using namespace spry::policies::placement;

namespace {

node_state node(double cpu, double mem, double cpu_used = 0, double mem_used = 0,
                double speed = 1) {
  node_state n;
  n.cpu_capacity = cpu;
  n.memory_capacity = mem;
  n.cpu_used = cpu_used;
  n.memory_used = mem_used;
  n.speed = speed;
  return n;
}

placement_demand demand(uint32_t f, uint32_t n, double cpu, double mem) {
  placement_demand d;
  d.function = f;
  d.instances = n;
  d.cpu = cpu;
  d.memory = mem;
  return d;
}

} // namespace

TEST_CASE("Mu placement: DRF order is the textbook one", "[placement]") {
  // Ghodsi et al.'s example: 9 CPUs and 18 GB; A's tasks <1 CPU, 4 GB> (dominant: memory, 2/9 a
  // task), B's <3 CPU, 1 GB> (dominant: CPU, 1/3 a task). DRF interleaves A B A B A: then A
  // (dominant 2/3) needs a CPU and B three, and 0 CPUs are left. A 3 tasks, B 2.
  placement_request r;
  r.nodes = {node(9, 18)};
  r.demands = {demand(0, 10, 1, 4), demand(1, 10, 3, 1)};
  mu engine;
  placement_result out;
  engine.place(r, out);
  std::vector<uint32_t> order;
  for (auto& a : out.assignments)
    order.push_back(a.demand);
  CHECK(order == std::vector<uint32_t>{0, 1, 0, 1, 0});
  CHECK(out.unplaced == std::vector<uint32_t>{7, 8});

  // What a function already holds counts: A holding 2 tasks' worth goes after B catches up.
  r.demands[0].cpu_allocated = 2;
  r.demands[0].memory_allocated = 8;
  r.nodes[0].cpu_used = 2;
  r.nodes[0].memory_used = 8;
  engine.place(r, out);
  order.clear();
  for (auto& a : out.assignments)
    order.push_back(a.demand);
  // A 8/18 = 0.444 vs B 0: B (1/3), B (2/3) > A: A (0.667), then no CPU for anyone... 2 + 6 + 1 = 9.
  CHECK(order == std::vector<uint32_t>{1, 1, 0});
}

TEST_CASE("spread is first come, first served: the first asker takes the cluster", "[placement]") {
  placement_request r;
  r.nodes = {node(9, 18)};
  r.demands = {demand(0, 10, 1, 4), demand(1, 10, 3, 1)};
  r.demands[0].created_s = 10; // function 0's instances were asked for first
  r.demands[1].created_s = 12;
  spread engine;
  placement_result out;
  engine.place(r, out);
  std::map<uint32_t, int> per;
  for (auto& a : out.assignments)
    per[a.demand]++;
  CHECK(per[0] == 4); // memory-bound: 4 x 4 GB of 18
  CHECK(per[1] == 1); // 5 CPUs but only 2 GB left: one B
  CHECK(out.unplaced == std::vector<uint32_t>{6, 9});
}

TEST_CASE("spread queues by creation time, not by function index", "[placement]") {
  placement_request r;
  r.nodes = {node(9, 18)};
  r.demands = {demand(0, 10, 1, 4), demand(1, 10, 3, 1)};
  r.demands[0].created_s = 12;
  r.demands[1].created_s = 10; // the second function asked first: it goes first
  spread engine;
  placement_result out;
  engine.place(r, out);
  REQUIRE(!out.assignments.empty());
  CHECK(out.assignments.front().demand == 1);
  std::map<uint32_t, int> per;
  for (auto& a : out.assignments)
    per[a.demand]++;
  CHECK(per[1] == 3); // 9 CPUs: three of B, then A fits in nothing (no CPU left)
  CHECK(per[0] == 0);

  // Created at the same time: neither index is favoured; the order is random per seed and the
  // same seed gives the same order.
  r.demands[0].created_s = r.demands[1].created_s = 10;
  std::map<uint32_t, int> first;
  std::vector<uint32_t> seq1, seq2;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    engine.reseed(seed);
    engine.place(r, out);
    first[out.assignments.front().demand]++;
    if (seed == 7)
      for (auto& a : out.assignments)
        seq1.push_back(a.demand);
  }
  CHECK(first[0] > 5);
  CHECK(first[1] > 5);
  engine.reseed(7);
  engine.place(r, out);
  for (auto& a : out.assignments)
    seq2.push_back(a.demand);
  CHECK(seq1 == seq2);
}

TEST_CASE("Mu placement: weighted DRF gives a weight-2 function twice the dominant share",
          "[placement]") {
  // Two functions with the same shape <1 CPU, 1 GB> on 12 CPUs: weight 2 against weight 1 ends
  // 8 : 4 instead of 6 : 6.
  placement_request r;
  r.nodes = {node(12, 1000)};
  r.demands = {demand(0, 20, 1, 1), demand(1, 20, 1, 1)};
  r.demands[0].weight = 1;
  r.demands[1].weight = 2;
  mu engine;
  placement_result out;
  engine.place(r, out);
  std::map<uint32_t, int> per;
  for (auto& a : out.assignments)
    per[a.demand]++;
  CHECK(per[0] == 4);
  CHECK(per[1] == 8);
}

TEST_CASE("node scores: alignment, best fit, worst fit, least allocated", "[placement]") {
  // Node 0: 4 CPU / 8 GB with 1 CPU and 7 GB used: free (3, 1).
  // Node 1: 4 CPU / 8 GB with 2.5 CPU and 1 GB used: free (1.5, 7).
  // Instance: 1 CPU, 0.5 GB.
  const node_state n0 = node(4, 8, 1, 7), n1 = node(4, 8, 2.5, 1);
  // alignment: 1/4 * 3/4 + 0.5/8 * 1/8 = 0.1953 vs 1/4 * 1.5/4 + 0.5/8 * 7/8 = 0.1484
  CHECK(mu::score(node_score::alignment, n0, 1, 0.5) == Approx(0.1875 + 0.0078125));
  CHECK(mu::score(node_score::alignment, n1, 1, 0.5) == Approx(0.09375 + 0.0546875));
  // worst fit: left (2, 0.5) -> 0.5 + 0.0625 vs (0.5, 6.5) -> 0.125 + 0.8125
  CHECK(mu::score(node_score::worst_fit, n0, 1, 0.5) == Approx(0.5625));
  CHECK(mu::score(node_score::worst_fit, n1, 1, 0.5) == Approx(0.9375));
  CHECK(mu::score(node_score::best_fit, n0, 1, 0.5) == Approx(-0.5625));
  CHECK(spread::least_allocated_score(n1, 1, 0.5) == Approx(0.9375 / 2));

  placement_request r;
  r.nodes = {n0, n1};
  r.demands = {demand(7, 1, 1, 0.5)};
  placement_result out;
  mu align(node_score::alignment), best(node_score::best_fit), worst(node_score::worst_fit);
  align.place(r, out);
  REQUIRE(out.assignments.size() == 1);
  CHECK(out.assignments[0].node == 0);
  best.place(r, out);
  CHECK(out.assignments[0].node == 0);
  worst.place(r, out);
  CHECK(out.assignments[0].node == 1);
  spread s;
  s.place(r, out);
  CHECK(out.assignments[0].node == 1);
}

TEST_CASE("Mu placement prefers the faster of equally good nodes", "[placement]") {
  placement_request r;
  r.nodes = {node(4, 8, 0, 0, 0.5), node(4, 8, 0, 0, 1.0), node(4, 8, 0, 0, 0.5)};
  r.demands = {demand(0, 1, 1, 1)};
  mu engine(node_score::worst_fit);
  placement_result out;
  engine.place(r, out);
  REQUIRE(out.assignments.size() == 1);
  CHECK(out.assignments[0].node == 1);
}

TEST_CASE("placement engines by name", "[placement]") {
  placement_registry r;
  register_all(r);
  CHECK(r.names() == std::vector<std::string>{"mu", "spread"});
  REQUIRE(r.create("mu", {{"score", "best_fit"}}));
  auto bad = r.create("mu", {{"score", "tightest"}});
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.err().message, Catch::Contains("alignment, best_fit, worst_fit"));
}

TEST_CASE("spread puts a function's instances asked for together on different nodes first",
          "[placement]") {
  // Four equal nodes, two functions of four instances each, asked for at once: whatever the
  // random order, each node gets one instance of each (least-allocated alone would put two of a
  // function on a node whenever that node happened to be emptiest at its turn).
  placement_request r;
  r.nodes = {node(4, 16), node(4, 16), node(4, 16), node(4, 16)};
  r.demands = {demand(0, 4, 1, 1), demand(1, 4, 1.5, 1)};
  spread engine;
  placement_result out;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    engine.reseed(seed);
    engine.place(r, out);
    REQUIRE(out.assignments.size() == 8);
    std::map<std::pair<uint32_t, uint32_t>, int> per; // (function, node)
    for (auto& a : out.assignments)
      per[{a.demand, a.node}]++;
    for (uint32_t f = 0; f < 2; ++f)
      for (uint32_t n = 0; n < 4; ++n)
        CHECK(per[{f, n}] == 1);
  }
}
