#include "cluster/cluster_placement.hpp"
#include "policies/placement/mu.hpp"
#include "policies/placement/spread.hpp"

#include <catch2/catch.hpp>

#include <numeric>

using namespace spry::cluster;

namespace {

placement_input three_nodes(bool chain_aware) {
  placement_input in;
  in.chain_aware = chain_aware;
  for (int n = 0; n < 3; ++n)
    in.nodes.push_back({2, 1024, 1, true});
  // Two chains of two functions each: {0, 1} and {2, 3}; one instance each, 1 core, 128 MB.
  for (int f = 0; f < 4; ++f)
    in.functions.push_back({1, 1, 128});
  in.chains = {{0, 1}, {2, 3}};
  in.current.assign(4, std::vector<uint32_t>(3, 0));
  return in;
}

size_t nodes_used(const std::vector<std::vector<uint32_t>>& counts, std::vector<size_t> fs) {
  std::vector<bool> used(counts.front().size(), false);
  for (auto f : fs)
    for (size_t n = 0; n < counts[f].size(); ++n)
      used[n] = used[n] || counts[f][n] > 0;
  return static_cast<size_t>(std::count(used.begin(), used.end(), true));
}

uint32_t total(const std::vector<uint32_t>& v) { return std::accumulate(v.begin(), v.end(), 0u); }

} // namespace

TEST_CASE("chain-aware placement keeps each chain on one node", "[cluster]") {
  spry::policies::placement::spread spread;
  const auto out = place_cluster(three_nodes(true), spread);
  for (size_t f = 0; f < 4; ++f)
    CHECK(total(out.counts[f]) == 1);
  CHECK(nodes_used(out.counts, {0, 1}) == 1);
  CHECK(nodes_used(out.counts, {2, 3}) == 1);
  // ... and spread still spreads the chains: they do not share a node while another is empty.
  CHECK(nodes_used(out.counts, {0, 1, 2, 3}) == 2);
}

TEST_CASE("without chain-awareness spread places functions of a chain on different nodes",
          "[cluster]") {
  spry::policies::placement::spread spread;
  const auto out = place_cluster(three_nodes(false), spread);
  CHECK(nodes_used(out.counts, {0, 1}) == 2);
  for (size_t f = 0; f < 4; ++f)
    CHECK(total(out.counts[f]) == 1);
}

TEST_CASE("a chain too big for one node is placed instance by instance", "[cluster]") {
  spry::policies::placement::spread spread;
  auto in = three_nodes(true);
  in.functions[0].cpu = 1.5; // chain {0, 1} needs 2.5 cores; a node has 2
  const auto out = place_cluster(in, spread);
  CHECK(total(out.counts[0]) == 1);
  CHECK(total(out.counts[1]) == 1);
  CHECK(nodes_used(out.counts, {0, 1}) == 2);
  CHECK(total(out.unplaced) == 0);
}

TEST_CASE("running instances stay and a lost node's instances move to live nodes", "[cluster]") {
  spry::policies::placement::mu mu;
  auto in = three_nodes(true);
  in.current[0][1] = 1;
  in.current[1][1] = 1;
  in.current[2][2] = 1;
  in.current[3][2] = 1;
  auto out = place_cluster(in, mu);
  CHECK(out.counts == in.current); // nothing moves without a reason
  in.nodes[2].alive = false;
  out = place_cluster(in, mu);
  CHECK(out.counts[2][2] == 0);
  CHECK(out.counts[3][2] == 0);
  CHECK(total(out.counts[2]) == 1);
  CHECK(total(out.counts[3]) == 1);
  CHECK(nodes_used(out.counts, {2, 3}) == 1); // still together
  CHECK(out.counts[0][1] == 1);               // untouched
}

TEST_CASE("more instances than wanted are trimmed where a function has most", "[cluster]") {
  spry::policies::placement::spread spread;
  auto in = three_nodes(false);
  in.functions[0].wanted = 2;
  in.current[0] = {3, 1, 0};
  const auto out = place_cluster(in, spread);
  CHECK(out.counts[0] == std::vector<uint32_t>{1, 1, 0});
}

TEST_CASE("what fits nowhere is reported unplaced, never put on a full or dead node", "[cluster]") {
  spry::policies::placement::spread spread;
  auto in = three_nodes(false);
  in.nodes[0].alive = false;
  in.functions[0].wanted = 6; // 2 live nodes x 2 cores, and the other functions want 3
  const auto out = place_cluster(in, spread);
  CHECK(out.counts[0][0] == 0);
  uint32_t cores = 0;
  for (size_t f = 0; f < 4; ++f)
    cores += total(out.counts[f]);
  CHECK(cores == 4);
  CHECK(out.unplaced[0] + out.unplaced[1] + out.unplaced[2] + out.unplaced[3] == 5);
}

TEST_CASE("free capacity: what placed instances leave on live nodes, never negative", "[cluster]") {
  auto in = three_nodes(false);
  // Node 0 runs functions 0 and 1 (2 cores used of 2), node 1 one instance of function 2, node 2
  // is dead (its capacity counts for nothing), and function 3 is over-placed on node 1.
  in.nodes[2].alive = false;
  std::vector<std::vector<uint32_t>> placed = {{1, 0, 0}, {1, 0, 0}, {0, 1, 1}, {0, 0, 0}};
  auto room = free_capacity(in.nodes, in.functions, placed);
  CHECK(room.cpu == Approx(1.0));                 // node 1: 2 - 1
  CHECK(room.memory_mb == Approx(768 + 896));     // node 0: 1024 - 256, node 1: 1024 - 128
  placed[3] = {0, 3, 0};                          // node 1 now asks for 4 cores of 2
  room = free_capacity(in.nodes, in.functions, placed);
  CHECK(room.cpu == Approx(0.0));
  // Placement not known yet (no rows): every live node's whole capacity.
  room = free_capacity(in.nodes, in.functions, {});
  CHECK(room.cpu == Approx(4.0));
  // No live node states memory: unbounded.
  for (auto& n : in.nodes)
    n.memory_mb = 0;
  CHECK(free_capacity(in.nodes, in.functions, placed).memory_mb == -1);
}
