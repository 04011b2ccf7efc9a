#include "cluster/cluster_placement.hpp"

#include <algorithm>
#include <numeric>

namespace spry::cluster {

namespace {

struct ledger {
  const placement_input& in;
  placement_output& out;
  std::vector<double> cpu_used, mem_used;

  ledger(const placement_input& i, placement_output& o)
    : in(i), out(o), cpu_used(i.nodes.size(), 0), mem_used(i.nodes.size(), 0) {}

  bool fits(size_t n, double cpu, double mem) const {
    const auto& node = in.nodes[n];
    return node.alive && cpu_used[n] + cpu <= node.cpu_capacity + 1e-9 &&
           mem_used[n] + mem <= node.memory_mb + 1e-9;
  }
  void add(size_t f, size_t n, uint32_t k = 1) {
    out.counts[f][n] += k;
    cpu_used[n] += in.functions[f].cpu * k;
    mem_used[n] += in.functions[f].memory_mb * k;
  }
  uint32_t total(size_t f) const {
    return std::accumulate(out.counts[f].begin(), out.counts[f].end(), 0u);
  }
  uint32_t missing(size_t f) const {
    const uint32_t t = total(f);
    return in.functions[f].wanted > t ? in.functions[f].wanted - t : 0;
  }
  policies::placement::node_state state(size_t n) const {
    policies::placement::node_state s;
    const auto& node = in.nodes[n];
    // A lost node offers nothing: the engine cannot pick it.
    s.cpu_capacity = node.alive ? node.cpu_capacity : 0;
    s.memory_capacity = node.alive ? node.memory_mb : 0;
    s.cpu_used = node.alive ? cpu_used[n] : 0;
    s.memory_used = node.alive ? mem_used[n] : 0;
    s.speed = node.speed;
    return s;
  }
};

} // namespace

placement_output place_cluster(const placement_input& in,
                               policies::placement::placement_engine& engine) {
  const size_t nf = in.functions.size(), nn = in.nodes.size();
  placement_output out;
  out.counts.assign(nf, std::vector<uint32_t>(nn, 0));
  out.unplaced.assign(nf, 0);
  ledger l(in, out);

  // 1 + 2: keep what runs on live nodes, at most `wanted`, trimming where a function has most.
  for (size_t f = 0; f < nf; ++f) {
    std::vector<uint32_t> keep(nn, 0);
    for (size_t n = 0; n < nn; ++n)
      if (in.nodes[n].alive && f < in.current.size() && n < in.current[f].size())
        keep[n] = in.current[f][n];
    uint32_t total = std::accumulate(keep.begin(), keep.end(), 0u);
    while (total > in.functions[f].wanted) {
      const auto most = std::max_element(keep.begin(), keep.end()) - keep.begin();
      keep[static_cast<size_t>(most)]--;
      total--;
    }
    for (size_t n = 0; n < nn; ++n)
      if (keep[n])
        l.add(f, n, keep[n]);
  }

  // 3: chain-aware: a chain's missing instances together on one node.
  if (in.chain_aware) {
    for (const auto& chain : in.chains) {
      double cpu = 0, mem = 0;
      std::vector<uint16_t> fs;
      for (auto f : chain) {
        if (f >= nf || std::find(fs.begin(), fs.end(), f) != fs.end())
          continue;
        fs.push_back(f);
        cpu += in.functions[f].cpu * l.missing(f);
        mem += in.functions[f].memory_mb * l.missing(f);
      }
      if (cpu == 0 && mem == 0)
        continue;
      // Prefer the node that already runs most of the chain's functions.
      int best = -1;
      size_t best_hosted = 0;
      for (size_t n = 0; n < nn; ++n) {
        if (!l.fits(n, cpu, mem))
          continue;
        size_t hosted = 0;
        for (auto f : fs)
          hosted += out.counts[f][n] > 0;
        if (best < 0 || hosted > best_hosted) {
          best = static_cast<int>(n);
          best_hosted = hosted;
        }
      }
      if (best >= 0 && best_hosted == 0) {
        // Nobody runs any of it yet: the engine picks the node for the chain's whole demand.
        policies::placement::placement_request req;
        for (size_t n = 0; n < nn; ++n)
          req.nodes.push_back(l.state(n));
        policies::placement::placement_demand d;
        d.function = 0;
        d.instances = 1;
        d.cpu = cpu;
        d.memory = mem;
        req.demands.push_back(d);
        policies::placement::placement_result res;
        engine.place(req, res);
        if (!res.assignments.empty() && l.fits(res.assignments.front().node, cpu, mem))
          best = static_cast<int>(res.assignments.front().node);
      }
      if (best < 0)
        continue; // no node has room for all of it: instance by instance below
      for (auto f : fs)
        if (const uint32_t m = l.missing(f))
          l.add(f, static_cast<size_t>(best), m);
    }
  }

  // 4: the engine places what is still missing, all functions in one request (DRF needs them).
  policies::placement::placement_request req;
  for (size_t n = 0; n < nn; ++n)
    req.nodes.push_back(l.state(n));
  for (size_t f = 0; f < nf; ++f) {
    const uint32_t m = l.missing(f);
    if (!m)
      continue;
    policies::placement::placement_demand d;
    d.function = static_cast<uint32_t>(f);
    d.instances = m;
    d.cpu = in.functions[f].cpu;
    d.memory = in.functions[f].memory_mb;
    for (size_t n = 0; n < nn; ++n) {
      d.cpu_allocated += out.counts[f][n] * in.functions[f].cpu;
      d.memory_allocated += out.counts[f][n] * in.functions[f].memory_mb;
    }
    req.demands.push_back(d);
  }
  if (!req.demands.empty()) {
    policies::placement::placement_result res;
    engine.place(req, res);
    for (const auto& a : res.assignments) {
      if (a.demand >= req.demands.size() || a.node >= nn)
        continue;
      const size_t f = req.demands[a.demand].function;
      if (l.missing(f) && l.fits(a.node, in.functions[f].cpu, in.functions[f].memory_mb))
        l.add(f, a.node);
    }
  }
  for (size_t f = 0; f < nf; ++f)
    out.unplaced[f] = l.missing(f);
  return out;
}

free_room free_capacity(const std::vector<placement_node>& nodes,
                        const std::vector<placement_function>& functions,
                        const std::vector<std::vector<uint32_t>>& placed) {
  free_room room;
  bool memory_known = false;
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (!nodes[n].alive)
      continue;
    double cpu = 0, memory = 0;
    for (size_t f = 0; f < functions.size() && f < placed.size(); ++f) {
      const uint32_t k = n < placed[f].size() ? placed[f][n] : 0;
      cpu += k * functions[f].cpu;
      memory += k * functions[f].memory_mb;
    }
    room.cpu += std::max(0.0, nodes[n].cpu_capacity - cpu);
    if (nodes[n].memory_mb > 0) {
      memory_known = true;
      room.memory_mb += std::max(0.0, nodes[n].memory_mb - memory);
    }
  }
  if (!memory_known)
    room.memory_mb = -1;
  return room;
}

} // namespace spry::cluster
