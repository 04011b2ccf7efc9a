#include "cluster/controller.hpp"

#include "cluster/cluster_placement.hpp"
#include "core/app_spec.hpp"
#include "gateway/app_policies.hpp"

#include <caf/atom.hpp>
#include <caf/exit_reason.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace spry::cluster {

namespace {

using tick_atom = caf::atom_constant<caf::atom("cl_tick")>;
using status_atom = caf::atom_constant<caf::atom("cl_status")>;

std::string random_hex(size_t bytes) {
  std::random_device rd;
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < bytes; ++i) {
    const auto v = rd() & 0xff;
    s += digits[v >> 4];
    s += digits[v & 15];
  }
  return s;
}

struct member {
  caf::actor handle;
  node_hello hello;
  bool alive = false;
  caf::actor_clock::time_point last_seen;
  node_report report;
  bool has_report = false;
  uint64_t epoch_sent = 0;
  std::vector<uint32_t> assigned;     ///< what it was told to run
  uint64_t joined_ns = 0, lost_count = 0;
};

struct controller_state {
  controller_options opts;
  std::unique_ptr<policies::autoscaling::autoscaler> autoscaler;
  std::unique_ptr<policies::placement::placement_engine> placement;
  std::string autoscaler_name;
  std::string id = random_hex(8);
  std::string link_secret = random_hex(32);
  std::vector<member> nodes; // index = node index in the view; lost nodes stay (alive = false)
  std::vector<uint32_t> wanted;                  // per function
  std::vector<std::vector<uint32_t>> placed;     // placed[f][n]
  std::vector<uint32_t> unplaced;
  uint64_t epoch = 0, view_version = 0;
  std::vector<std::vector<uint32_t>> last_ready, last_placed; // what the last view said
  caf::actor_clock::time_point last_decision;
  bool activation = false;
  bool placing = false; ///< min_nodes reached once
  uint64_t ticks = 0;
  uint64_t started_ns = 0;
  static inline const char* name = "spry.controller";
};

using self_ptr = caf::stateful_actor<controller_state>*;

size_t functions_of(self_ptr self) { return self->state.opts.app.functions.size(); }

int find_node(self_ptr self, const caf::actor_addr& who) {
  auto& nodes = self->state.nodes;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].alive && nodes[i].handle && nodes[i].handle.address() == who)
      return static_cast<int>(i);
  return -1;
}

cluster_view make_view(self_ptr self) {
  auto& st = self->state;
  cluster_view v;
  v.version = ++st.view_version;
  v.controller_id = st.id;
  const size_t nf = functions_of(self);
  v.ready.assign(nf, std::vector<uint32_t>(st.nodes.size(), 0));
  v.placed.assign(nf, std::vector<uint32_t>(st.nodes.size(), 0));
  for (size_t f = 0; f < nf && f < st.placed.size(); ++f)
    for (size_t n = 0; n < st.nodes.size() && n < st.placed[f].size(); ++n)
      v.placed[f][n] = st.nodes[n].alive ? st.placed[f][n] : 0;
  for (size_t n = 0; n < st.nodes.size(); ++n) {
    const auto& m = st.nodes[n];
    view_node vn;
    vn.name = m.hello.name;
    vn.data_address = m.hello.data_address;
    vn.http_address = m.hello.http_address;
    vn.alive = m.alive;
    vn.cpu_capacity = m.hello.cpu_capacity;
    vn.memory_mb = m.hello.memory_mb;
    vn.speed = m.hello.speed;
    if (m.has_report) {
      vn.cpu_load = m.report.cpu_load;
      vn.in_flight = m.report.in_flight;
      vn.cross_node_hops = m.report.cross_node_hops;
      vn.requests = m.report.requests;
      // Only instances the controller still wants there: one it told the node to drop may still
      // show as ready in the node's last report, and a request sent to it would find none.
      for (size_t f = 0; f < nf; ++f)
        v.ready[f][n] = m.alive ? std::min(m.report.ready[f], v.placed[f][n]) : 0;
    }
    v.nodes.push_back(std::move(vn));
  }
  return v;
}

void publish(self_ptr self, bool force) {
  auto& st = self->state;
  // Until min_nodes have joined the nodes keep the directory they have (after a controller
  // restart: the previous one's), rather than one that lists only the first nodes back.
  if (!st.placing)
    return;
  auto v = make_view(self);
  if (!force && v.ready == st.last_ready && v.placed == st.last_placed) {
    st.view_version--; // nothing routing-relevant changed: no new version
    return;
  }
  st.last_ready = v.ready;
  st.last_placed = v.placed;
  for (auto& m : st.nodes)
    if (m.alive)
      self->send(m.handle, directory_atom::value, v);
}

void assign(self_ptr self) {
  auto& st = self->state;
  const size_t nf = functions_of(self);
  for (size_t n = 0; n < st.nodes.size(); ++n) {
    auto& m = st.nodes[n];
    if (!m.alive)
      continue;
    std::vector<uint32_t> counts(nf, 0);
    for (size_t f = 0; f < nf; ++f)
      counts[f] = st.placed[f][n];
    if (counts == m.assigned && m.epoch_sent)
      continue;
    m.assigned = counts;
    node_assignment a;
    a.epoch = ++st.epoch;
    a.instances = counts;
    m.epoch_sent = a.epoch;
    self->send(m.handle, assign_atom::value, a);
  }
}

/// Every node as placement sees it (capacities, alive).
std::vector<placement_node> placement_nodes(self_ptr self) {
  std::vector<placement_node> out;
  for (const auto& m : self->state.nodes)
    out.push_back({m.hello.cpu_capacity, m.hello.memory_mb, m.hello.speed, m.alive});
  return out;
}

/// Every function as placement sees it: wanted instances and their size.
std::vector<placement_function> placement_functions(self_ptr self) {
  auto& st = self->state;
  const auto& app = st.opts.app;
  std::vector<placement_function> out;
  for (size_t f = 0; f < functions_of(self); ++f)
    out.push_back({st.wanted[f], app.functions[f].cpu,
                   static_cast<double>(app.functions[f].memory) / 1048576.0});
  return out;
}

/// Places the wanted instances over the live nodes and tells the nodes.
void reconcile(self_ptr self) {
  auto& st = self->state;
  const auto& app = st.opts.app;
  const size_t nf = functions_of(self);
  const auto alive = std::count_if(st.nodes.begin(), st.nodes.end(), [](const member& m) { return m.alive; });
  if (static_cast<uint32_t>(alive) < st.opts.min_nodes && !st.placing) {
    spdlog::info("controller: {} of {} node(s) joined; placing when all are here", alive,
                 st.opts.min_nodes);
    return;
  }
  st.placing = true; // from now on a lost node's instances go elsewhere at once
  placement_input in;
  in.chain_aware = st.opts.chain_aware;
  in.nodes = placement_nodes(self);
  in.functions = placement_functions(self);
  for (const auto& c : app.chains) {
    std::vector<uint16_t> fs;
    for (const auto& name : c.functions) {
      const auto f = core::find_function(app, name);
      if (f != core::no_function)
        fs.push_back(f);
    }
    in.chains.push_back(fs);
  }
  in.current = st.placed;
  for (auto& row : in.current)
    row.resize(st.nodes.size(), 0);
  auto out = place_cluster(in, *st.placement);
  const bool any_alive = std::any_of(st.nodes.begin(), st.nodes.end(), [](const member& m) { return m.alive; });
  for (size_t f = 0; f < nf && any_alive; ++f)
    if (out.unplaced[f] && (st.unplaced.size() <= f || st.unplaced[f] != out.unplaced[f]))
      spdlog::warn("controller: function '{}': {} instance(s) wanted do not fit on any node",
                   app.functions[f].name, out.unplaced[f]);
  st.unplaced = out.unplaced;
  if (out.counts != st.placed) {
    for (size_t f = 0; f < nf; ++f) {
      std::string where;
      for (size_t n = 0; n < st.nodes.size(); ++n)
        if (out.counts[f][n])
          where += (where.empty() ? "" : ", ") + st.nodes[n].hello.name + " x" +
                   std::to_string(out.counts[f][n]);
      spdlog::info("controller: function '{}' on {}", app.functions[f].name,
                   where.empty() ? "no node" : where);
    }
  }
  st.placed = out.counts;
  assign(self);
}

/// The autoscaler over the sum of every node's view (fixed: min_instances).
void decide(self_ptr self) {
  auto& st = self->state;
  const auto& app = st.opts.app;
  const size_t nf = functions_of(self);
  if (st.autoscaler_name == "fixed") {
    for (size_t f = 0; f < nf; ++f)
      st.wanted[f] = app.functions[f].min_instances;
    return;
  }
  policies::autoscaling::scaling_snapshot snap;
  const auto now = self->clock().now();
  snap.interval_s = std::max(1e-3, std::chrono::duration<double>(now - st.last_decision).count());
  snap.now_s = (caf::make_timestamp().time_since_epoch().count() - st.started_ns) / 1e9;
  for (const auto& m : st.nodes)
    if (m.alive)
      snap.cluster_cpu += m.hello.cpu_capacity;
  // What placed instances leave free on the live nodes: Mu grows a function only into this, as
  // the single-machine control plane does (issue 20: capped by free capacity, not the cluster).
  const auto room = free_capacity(placement_nodes(self), placement_functions(self), st.placed);
  snap.free_cpu = snap.cluster_cpu > 0 ? room.cpu : -1;
  snap.free_memory_mb = room.memory_mb;
  for (size_t f = 0; f < nf; ++f) {
    policies::autoscaling::function_metrics sum;
    const auto& spec = app.functions[f];
    double busy = 0;
    uint32_t held = 0;
    for (const auto& m : st.nodes) {
      if (!m.alive || !m.has_report)
        continue;
      const auto& x = m.report.functions[f];
      sum.arrival_rate += x.arrival_rate;
      sum.concurrency += x.concurrency;
      sum.queue_length += x.queue_length;
      busy += x.service_time_s * x.arrival_rate;
      sum.ready_instances += m.report.ready[f];
      sum.pending_instances += m.report.starting[f];
      held += m.report.held[f];
    }
    sum.service_time_s = sum.arrival_rate > 0 ? busy / sum.arrival_rate : 0;
    if (sum.ready_instances == 0 && held > 0)
      sum.arrival_rate += held / snap.interval_s;
    gateway::set_spec_metrics(sum, spec);
    snap.functions.push_back(sum);
  }
  std::vector<policies::autoscaling::scaling_decision> d;
  st.autoscaler->decide(snap, d);
  for (size_t f = 0; f < nf && f < d.size(); ++f) {
    uint32_t w = std::clamp(d[f].instances, app.functions[f].min_instances,
                            app.functions[f].max_instances);
    if (w == 0 && st.activation) {
      // A request waits somewhere for a function at zero: never decide zero over it.
      for (const auto& m : st.nodes)
        if (m.alive && m.has_report && m.report.held[f] > 0)
          w = 1;
    }
    st.wanted[f] = w;
  }
}

void lose(self_ptr self, size_t n, const std::string& why) {
  auto& m = self->state.nodes[n];
  if (!m.alive)
    return;
  m.alive = false;
  m.has_report = false;
  m.lost_count++;
  m.assigned.clear();
  m.epoch_sent = 0;
  spdlog::warn("controller: node '{}' lost: {}; placing its instances elsewhere", m.hello.name, why);
  if (m.handle)
    self->demonitor(m.handle);
  reconcile(self);
  publish(self, true);
}

nlohmann::json status_of(self_ptr self) {
  auto& st = self->state;
  const auto& app = st.opts.app;
  nlohmann::json j;
  j["controller"] = st.id;
  j["directory_version"] = st.view_version;
  j["chain_aware"] = st.opts.chain_aware;
  j["autoscaler"] = st.autoscaler_name;
  j["placement"] = std::string(st.placement->name());
  auto nodes = nlohmann::json::array();
  for (size_t n = 0; n < st.nodes.size(); ++n) {
    const auto& m = st.nodes[n];
    nlohmann::json nj{{"name", m.hello.name},
                      {"alive", m.alive},
                      {"data_address", m.hello.data_address},
                      {"http_address", m.hello.http_address},
                      {"cpu_capacity", m.hello.cpu_capacity},
                      {"memory_mib", m.hello.memory_mb},
                      {"speed", m.hello.speed},
                      {"lost", m.lost_count}};
    if (m.has_report) {
      nj["cpu_load"] = m.report.cpu_load;
      nj["in_flight"] = m.report.in_flight;
      nj["requests"] = m.report.requests;
      nj["cross_node_hops"] = m.report.cross_node_hops;
      nj["cold_starts"] = m.report.cold_starts;
    }
    auto runs = nlohmann::json::object();
    for (size_t f = 0; f < app.functions.size(); ++f) {
      const uint32_t placed = f < st.placed.size() && n < st.placed[f].size() ? st.placed[f][n] : 0;
      const uint32_t ready = m.has_report ? m.report.ready[f] : 0;
      if (placed || ready)
        runs[app.functions[f].name] = {{"placed", placed}, {"ready", ready}};
    }
    nj["functions"] = runs;
    nodes.push_back(nj);
  }
  j["nodes"] = nodes;
  auto fns = nlohmann::json::array();
  for (size_t f = 0; f < app.functions.size(); ++f)
    fns.push_back({{"name", app.functions[f].name},
                   {"wanted", st.wanted[f]},
                   {"unplaced", f < st.unplaced.size() ? st.unplaced[f] : 0}});
  j["functions"] = fns;
  return j;
}

caf::behavior controller_actor(self_ptr self, controller_options opts,
                               gateway::app_policies policies) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.autoscaler_name = std::string(policies.autoscaler->name());
  st.autoscaler = std::move(policies.autoscaler);
  st.placement = std::move(policies.placement);
  const size_t nf = st.opts.app.functions.size();
  st.wanted.assign(nf, 0);
  st.placed.assign(nf, {});
  st.started_ns = static_cast<uint64_t>(caf::make_timestamp().time_since_epoch().count());
  st.last_decision = self->clock().now();
  decide(self);
  self->set_down_handler([self](caf::down_msg& dm) {
    const int n = find_node(self, dm.source);
    if (n < 0)
      return;
    // A node that stops cleanly says so; anything else is a connection that broke (reset by a
    // killed process, or CAF's connection timeout for one that stopped answering).
    const bool left = dm.reason == caf::exit_reason::user_shutdown;
    lose(self, static_cast<size_t>(n),
         left ? std::string("it shut down")
              : "its connection broke: reset, or silent past the connection timeout (" +
                  self->system().render(dm.reason) + ")");
  });
  self->delayed_send(self, st.opts.report_interval, tick_atom::value);
  return {
    [self](join_atom, node_hello& h) -> join_reply {
      auto& st = self->state;
      join_reply r;
      auto who = caf::actor_cast<caf::actor>(self->current_sender());
      if (!who) {
        r.reason = "join without a sender";
        return r;
      }
      if (auto bad = validate(h, functions_of(self)); !bad.empty()) {
        spdlog::warn("controller: refused a join: malformed hello: {}", bad);
        r.reason = "malformed hello: " + bad;
        return r;
      }
      if (h.version != st.opts.version) {
        spdlog::warn("controller: refused node '{}': it runs spry {}, this controller {}", h.name,
                     h.version, st.opts.version);
        r.reason = "version mismatch: this node runs spry " + h.version + ", the controller spry " +
                   st.opts.version + "; run the same version on every member";
        return r;
      }
      if (h.app_digest != st.opts.app_digest) {
        spdlog::warn("controller: refused node '{}': its app file differs from the controller's",
                     h.name);
        r.reason = "app mismatch: this node's app file (digest " + h.app_digest +
                   ") differs from the controller's (" + st.opts.app_digest +
                   "); give every member the same app file";
        return r;
      }
      size_t n = st.nodes.size();
      for (size_t i = 0; i < st.nodes.size(); ++i)
        if (st.nodes[i].hello.name == h.name)
          n = i;
      if (n < st.nodes.size() && st.nodes[n].alive) {
        if (st.nodes[n].handle == who) {
          r.reason = "already joined";
          return r;
        }
        // The same name from a new process: the old one is gone (restarted node).
        lose(self, n, "a new agent joined under its name");
      }
      if (n == st.nodes.size())
        st.nodes.emplace_back();
      auto& m = st.nodes[n];
      m.handle = who;
      m.hello = h;
      m.alive = true;
      m.has_report = false;
      m.assigned.clear();
      m.epoch_sent = 0;
      m.last_seen = self->clock().now();
      self->monitor(who);
      for (auto& row : st.placed)
        row.resize(st.nodes.size(), 0);
      // A node that outlived a controller restart keeps what it runs, as far as it is wanted.
      if (!h.running.empty())
        for (size_t f = 0; f < functions_of(self); ++f)
          st.placed[f][n] = h.running[f];
      spdlog::info("controller: node '{}' joined (cpu {}, memory {} MiB, speed {}, data {}, "
                   "ingress {})",
                   h.name, h.cpu_capacity, h.memory_mb, h.speed, h.data_address, h.http_address);
      r.accepted = true;
      r.node_index = static_cast<uint32_t>(n);
      r.link_secret = st.link_secret;
      r.report_interval_ms = static_cast<uint32_t>(st.opts.report_interval.count());
      // After the reply: the node must know its secret before it receives an assignment.
      self->send(self, tick_atom::value, true);
      return r;
    },
    [self](report_atom, node_report& rep) {
      auto& st = self->state;
      const int n = find_node(self, caf::actor_cast<caf::actor_addr>(self->current_sender()));
      if (n < 0) {
        spdlog::warn("controller: refused a report from a peer that has not joined");
        return;
      }
      auto& m = st.nodes[static_cast<size_t>(n)];
      if (auto bad = validate(rep, functions_of(self)); !bad.empty()) {
        spdlog::warn("controller: refused a report from node '{}': {}", m.hello.name, bad);
        return;
      }
      if (m.has_report && rep.seq <= m.report.seq) {
        spdlog::warn("controller: refused an out-of-order report from node '{}' (seq {} after {})",
                     m.hello.name, rep.seq, m.report.seq);
        return;
      }
      m.report = std::move(rep);
      m.has_report = true;
      m.last_seen = self->clock().now();
      publish(self, false);
    },
    [self](activate_atom, uint16_t f, uint16_t chain) {
      auto& st = self->state;
      const auto& app = st.opts.app;
      if (find_node(self, caf::actor_cast<caf::actor_addr>(self->current_sender())) < 0 ||
          f >= functions_of(self) || chain >= app.chains.size()) {
        spdlog::warn("controller: refused an activation from a peer that has not joined or for "
                     "an unknown function or chain");
        return;
      }
      if (st.autoscaler_name == "fixed")
        return;
      // Whole-chain warm-up: every function of the request's chain at zero starts now.
      bool changed = false;
      auto fs = core::functions_of_chain(app, chain);
      if (std::find(fs.begin(), fs.end(), f) == fs.end())
        fs.push_back(f);
      for (auto fn : fs)
        if (st.wanted[fn] == 0 && app.functions[fn].max_instances > 0) {
          st.wanted[fn] = 1;
          changed = true;
        }
      if (changed) {
        st.activation = true;
        reconcile(self);
        publish(self, false);
      }
    },
    [self](tick_atom, bool now) {
      // A join: place at once (not a decision of the autoscaler).
      if (now) {
        reconcile(self);
        publish(self, true);
      }
    },
    [self](tick_atom) {
      auto& st = self->state;
      const auto now = self->clock().now();
      for (size_t n = 0; n < st.nodes.size(); ++n)
        if (st.nodes[n].alive && now - st.nodes[n].last_seen > st.opts.node_timeout)
          lose(self, n, "no report for " + std::to_string(st.opts.node_timeout.count()) + " ms");
      // Every second a directory goes out even when routing did not change: it carries every
      // node's load for `spry status` and /metrics on any node.
      if (++st.ticks % std::max<int64_t>(1, 1000 / std::max<int64_t>(1, st.opts.report_interval.count())) == 0)
        publish(self, true);
      const auto interval = std::chrono::milliseconds(st.opts.app.autoscaling.interval_ms);
      if (now - st.last_decision >= interval) {
        decide(self);
        st.last_decision = now;
        st.activation = false;
        reconcile(self);
        publish(self, false);
      }
      self->delayed_send(self, st.opts.report_interval, tick_atom::value);
    },
    [self](status_atom) -> std::string { return status_of(self).dump(); },
  };
}

} // namespace

core::expected<caf::actor> spawn_controller(caf::actor_system& sys, controller_options opts) {
  auto policies = gateway::make_app_policies(opts.app);
  if (!policies)
    return policies.err();
  if (auto compiled = core::compile(opts.app); !compiled)
    return compiled.err();
  return sys.spawn(controller_actor, std::move(opts), std::move(*policies));
}

std::string controller_status(caf::actor_system& sys, const caf::actor& controller,
                              std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  std::string out;
  self->request(controller, timeout, status_atom::value)
    .receive([&](std::string& s) { out = std::move(s); },
             [&](caf::error& e) { out = "{\"error\": \"" + sys.render(e) + "\"}"; });
  return out;
}

} // namespace spry::cluster
