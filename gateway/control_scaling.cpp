// Scaling actuation of the control plane: turning a decision (the autoscaler's, a cluster
// controller's target, a hot reload) into instances started, retired, drained and stopped
// through the runtime, with each placed on a node and limited to its CPU share, and KPA's
// activator put in a function's path or taken out. Part of
// control_plane (control_plane.hpp); the loop that decides lives in control_plane.cpp, the
// report in control_report.cpp. Every function here runs under mtx_ (the *_locked ones are
// called with it held; reload_library takes it).
#include "core/clock.hpp"
#include "core/runtime.hpp"
#include "gateway/control_plane.hpp"
#include "gateway/gateway.hpp"
#include "policies/placement/placement_actor.hpp"

#include <caf/scoped_actor.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace spry::gateway {

core::expected<std::string> control_plane::reload_library(const std::string& path) {
  // Under mtx_ so that no scaling decision runs between the swap and the replacements: the
  // autoscaler sees the same number of live instances before and after.
  std::lock_guard<std::mutex> guard{mtx_};
  auto replaced = rt_.replace_library(path);
  if (!replaced)
    return replaced.err();
  std::vector<core::endpoint_id> old;
  for (const auto& [ep, x] : instances_)
    if (x.state != inst_state::retiring && x.replaced_by == core::no_endpoint)
      old.push_back(ep);
  const uint64_t now = core::now_ns();
  size_t restarted = 0;
  std::string trouble;
  const bool in_process = rt_.in_process_instances();
  for (const auto ep : old) {
    auto& x = instances_[ep];
    const std::vector<unsigned> cpus =
      x.node >= 0 ? nodes_[static_cast<size_t>(x.node)].cpus : std::vector<unsigned>{};
    auto fresh = rt_.add_instance(x.function, cpus);
    if (!fresh) {
      // The old instance keeps serving (old code) rather than leaving the function without one.
      trouble += "; instance " + std::to_string(ep) + " of '" + app_.functions[x.function].name +
                 "' not restarted: " + fresh.err().message;
      continue;
    }
    // In-process: ready, and in the directory, when add_instance returns. A process: starting;
    // it joins the directory once ready, and only then does the old one leave it
    // (supersede_locked), so the function never has fewer instances serving than before.
    // Not a cold start either way: no request waited for it.
    inst y{x.function, x.node, in_process ? inst_state::ready : inst_state::starting, now};
    y.replacement = true;
    seed_from_board(*fresh, y);
    // `x` may move when the map grows: go through the key from here.
    instances_[*fresh] = y;
    instances_[ep].replaced_by = *fresh;
    ++restarted;
  }
  supersede_locked();
  std::string replaced_list;
  for (const auto& r : *replaced)
    replaced_list += (replaced_list.empty() ? "" : ", ") + r;
  spdlog::info("function library {} replaced {}: {} instance(s) restarting on the new code{}",
               path, replaced_list, restarted, trouble);
  if (!in_process) {
    // The replacements become ready on the control thread's watch: poll faster until they are.
    busy_.store(true, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> events{events_mtx_};
      wake_ = true;
    }
    cv_.notify_one();
  }
  return "function library " + path + " replaced " + replaced_list + ": " +
         std::to_string(restarted) + " instance(s) " +
         (in_process ? "restarted on the new code"
                     : "restarting on the new code (each old one leaves once its replacement is "
                       "ready, and stops once it holds no request)") +
         trouble;
}

void control_plane::supersede_locked() {
  const uint64_t now = core::now_ns();
  for (auto& [ep, x] : instances_) {
    if (x.replaced_by == core::no_endpoint || x.state == inst_state::retiring)
      continue;
    auto r = instances_.find(x.replaced_by);
    // Waits while its replacement starts; goes once it is ready, or once the replacement itself
    // went away (scaled down before it was ready: the function wanted one instance less).
    if (r != instances_.end() && r->second.state == inst_state::starting)
      continue;
    rt_.retire_instance(ep);
    x.state = inst_state::retiring;
    x.since_ns = now;
    spdlog::info("function '{}': instance {} replaced by instance {} (new code); draining it",
                 app_.functions[x.function].name, ep, x.replaced_by);
  }
}

void control_plane::scale_locked(core::function_id f, uint32_t wanted) {
  const auto& spec = app_.functions[f];
  auto& st = stats_[f];
  // Cluster mode: the controller kept the cluster's total within the bounds; this node's share
  // may be anything up to the maximum.
  uint32_t desired = std::clamp(wanted, managed_ ? 0u : spec.min_instances, spec.max_instances);
  if (desired == 0 && gw_.held(f) > 0 && !managed_)
    desired = 1; // a request is waiting: never decide zero over it (cluster: the controller's call)
  if (!managed_ && f < warm_until_ns_.size() && warm_until_ns_[f]) {
    // Warmed up for a chain's request that has not reached it yet; released by its first one.
    if (stats_[f].acc_arrivals > 0 || stats_[f].arrival_rate > 0)
      warm_until_ns_[f] = 0;
    else if (desired == 0 && core::now_ns() < warm_until_ns_[f])
      desired = std::min<uint32_t>(1, spec.max_instances);
  }
  st.desired = desired;
  std::vector<core::endpoint_id> alive;
  for (const auto& [ep, x] : instances_) // one being replaced counts as its replacement
    if (x.function == f && x.state != inst_state::retiring && x.replaced_by == core::no_endpoint)
      alive.push_back(ep);
  // Decided earlier in this tick, started with the tick's batch (flush_starts_locked).
  const size_t deferred = static_cast<size_t>(
    std::count_if(starts_.begin(), starts_.end(), [&](const pending_start& s) { return s.function == f; }));
  const uint64_t now = core::now_ns();
  if (desired > alive.size() + deferred) {
    bool short_of_room = false;
    for (size_t k = alive.size() + deferred; k < desired; ++k) {
      const int n = place_locked(f);
      if (n < 0) {
        note_unplaced_locked(f, static_cast<uint32_t>(desired - k));
        short_of_room = true;
        break;
      }
      starts_.push_back({f, n, desired});
      if (!batching_)
        flush_starts_locked();
    }
    if (!short_of_room)
      st.unplaced = 0;
  } else {
    st.unplaced = 0;
  }
  if (desired < alive.size()) {
    // The least loaded go first; instances still starting before ready ones.
    std::sort(alive.begin(), alive.end(), [&](core::endpoint_id a, core::endpoint_id b) {
      const bool sa = instances_[a].state == inst_state::starting;
      const bool sb = instances_[b].state == inst_state::starting;
      if (sa != sb)
        return sa;
      return rt_.board().in_flight(a) < rt_.board().in_flight(b);
    });
    for (size_t k = 0; k < alive.size() - desired; ++k) {
      auto& x = instances_[alive[k]];
      rt_.retire_instance(alive[k]);
      x.state = inst_state::retiring;
      x.since_ns = now;
      st.scale_downs++;
      spdlog::info("function '{}': scaling down to {} (draining instance {})", spec.name, desired,
                   alive[k]);
    }
  }
}

void control_plane::flush_starts_locked() {
  if (starts_.empty())
    return;
  std::vector<pending_start> batch;
  batch.swap(starts_);
  std::vector<std::pair<core::function_id, std::vector<unsigned>>> wanted;
  for (const auto& s : batch)
    wanted.emplace_back(s.function, nodes_[static_cast<size_t>(s.node)].cpus);
  // One call: the instances' processes start together (a chain warming up from zero).
  auto eps = rt_.add_instances(wanted);
  const uint64_t now = core::now_ns();
  for (size_t k = 0; k < batch.size(); ++k) {
    const auto& s = batch[k];
    const auto& spec = app_.functions[s.function];
    if (!eps[k]) {
      spdlog::error("function '{}': cannot start an instance: {}", spec.name, eps[k].err().message);
      continue;
    }
    inst x{s.function, s.node, inst_state::starting, now};
    x.scaled = true;
    seed_from_board(*eps[k], x);
    // An in-process instance is ready at once, and may already be in the directory.
    instances_[*eps[k]] = x;
    stats_[s.function].scale_ups++;
    spdlog::info("function '{}': scaling up to {} (instance {} on node '{}')", spec.name,
                 s.desired, *eps[k], nodes_[static_cast<size_t>(s.node)].name);
  }
}

void control_plane::drain_locked() {
  uint32_t timeout_ms = 0;
  for (const auto& c : app_.chains)
    timeout_ms = std::max(timeout_ms, c.timeout_ms);
  const uint64_t now = core::now_ns();
  for (auto i = instances_.begin(); i != instances_.end();) {
    auto& [ep, x] = *i;
    if (x.state != inst_state::retiring) {
      ++i;
      continue;
    }
    const bool idle = rt_.retired_everywhere(ep) && rt_.board().in_flight(ep) == 0;
    const bool overdue = now - x.since_ns > (uint64_t{timeout_ms} + 1000) * 1000000;
    if (!idle && !overdue) {
      ++i;
      continue;
    }
    if (!idle)
      spdlog::warn("instance {} of '{}' still holds {} request(s) {} ms after it was retired; "
                   "stopping it",
                   ep, app_.functions[x.function].name, rt_.board().in_flight(ep), timeout_ms + 1000);
    fold_exec_locked(ep, x);
    rt_.remove_instance(ep);
    i = instances_.erase(i);
  }
}

void control_plane::apply_cpu_limits_locked() {
  std::map<core::endpoint_id, pid_t> pids;
  for (const auto& p : rt_.processes())
    if (p.pid > 0)
      pids[p.endpoint] = p.pid;
  // Each instance's limit in cores (0: none). Full size is no limit at all, as for an instance
  // never deflated. A node's own limit (a slower node emulated on this machine) caps every
  // instance on it, deflated or not.
  auto cores_of = [&](const inst& x) {
    const double fraction = stats_[x.function].cpu_fraction;
    double cores = fraction >= 1 ? 0 : app_.functions[x.function].cpu * fraction;
    if (x.node >= 0) {
      const double node_limit = nodes_[static_cast<size_t>(x.node)].instance_cpu_limit;
      if (node_limit > 0)
        cores = cores > 0 ? std::min(cores, node_limit) : node_limit;
    }
    return cores;
  };
  const bool can_limit = limiter_ && limiter_->available();
  // Once any instance is limited (or is in its group already), every instance gets its own group,
  // limited or not: a limited process must not also sit elsewhere in the scheduler's hierarchy
  // than the others (under cgroup v1 a group competes with each task of its parent as one), or
  // it would lose CPU to the machine's other processes beyond its limit, and a run with
  // deflation could not be compared with one without. An app that never limits anything keeps
  // its instances where they started.
  bool group_all = false;
  for (const auto& [ep, x] : instances_)
    group_all = group_all || x.limited_pid != 0 || (pids.count(ep) && cores_of(x) > 0);
  for (auto& [ep, x] : instances_) {
    auto pid = pids.find(ep);
    if (pid == pids.end())
      continue;
    const double cores = cores_of(x);
    if (x.limited_pid == pid->second && std::abs(x.limited_cores - cores) < 1e-9)
      continue;
    if (!can_limit) {
      if (cores == 0)
        continue; // nothing to limit
      if (!warned_no_limits_)
        spdlog::warn("instances of '{}' should be limited to {:.2f} cores (deflation or their "
                     "node's instance_cpu_limit), but {}",
                     app_.functions[x.function].name, cores,
                     limiter_ ? limiter_->description()
                              : std::string("instances on transport local are actors (no CPU limit)"));
      warned_no_limits_ = true;
      continue;
    }
    if (cores == 0 && !group_all)
      continue; // nothing is limited: no groups
    if (auto ok = limiter_->set(std::to_string(ep), pid->second, cores,
                                {x.function, app_.functions[x.function].weight});
        !ok) {
      spdlog::error("instance {}: cannot set its CPU limit: {}", ep, ok.err().message);
      continue;
    }
    x.limited_pid = pid->second;
    x.limited_cores = cores;
  }
}

double control_plane::node_cpu_used_locked(int n) const {
  // A deflated instance holds only the CPU its limit lets it use (LaSS): counting its full size
  // would keep the CPU a deflation frees from other functions' instances under overload, which
  // is the point of deflating rather than keeping everyone at full size.
  double used = 0;
  for_each_placed_locked([&](core::function_id f, int node) {
    if (node == n)
      used += cpu_held_locked(f);
  });
  return used;
}

double control_plane::node_memory_used_locked(int n) const {
  double used = 0;
  for_each_placed_locked([&](core::function_id f, int node) {
    if (node == n)
      used += app_.functions[f].memory / 1048576.0;
  });
  return used;
}

int control_plane::place_locked(core::function_id f) {
  return place_each_locked({f}).front();
}

std::vector<int> control_plane::place_each_locked(const std::vector<core::function_id>& fs) {
  policies::placement::placement_request req;
  for (size_t n = 0; n < nodes_.size(); ++n) {
    policies::placement::node_state s;
    s.cpu_capacity = nodes_[n].cpu_capacity;
    s.memory_capacity = nodes_[n].memory_capacity;
    s.cpu_used = node_cpu_used_locked(static_cast<int>(n));
    s.memory_used = node_memory_used_locked(static_cast<int>(n));
    s.speed = nodes_[n].speed;
    req.nodes.push_back(s);
  }
  for (const core::function_id f : fs) {
    policies::placement::placement_demand d;
    d.function = f;
    d.instances = 1;
    d.cpu = app_.functions[f].cpu;
    d.memory = app_.functions[f].memory / 1048576.0;
    d.created_s = (core::now_ns() - start_ns_) / 1e9;
    d.weight = app_.functions[f].weight;
    for_each_placed_locked([&](core::function_id g, int) {
      if (g == f) {
        d.cpu_allocated += cpu_held_locked(f); // as node_cpu_used_locked
        d.memory_allocated += d.memory;
      }
    });
    req.demands.push_back(d);
  }
  std::vector<int> nodes(fs.size(), -1);
  auto& self = asker_locked();
  self->request(placement_, caf::infinite, policies::placement::place_atom::value, req)
    .receive(
      [&](policies::placement::placement_result& r) {
        for (const auto& a : r.assignments)
          if (a.demand < nodes.size())
            nodes[a.demand] = static_cast<int>(a.node);
      },
      [&](caf::error& e) { spdlog::error("placement: {}", rt_.system().render(e)); });
  return nodes;
}

void control_plane::note_unplaced_locked(core::function_id f, uint32_t unplaced) {
  auto& st = stats_[f];
  if (unplaced != st.unplaced) // said once per change, not every tick
    spdlog::warn("function '{}': {} instance(s) wanted do not fit on any node",
                 app_.functions[f].name, unplaced);
  st.unplaced = unplaced;
}

void control_plane::warm_up_locked(const std::vector<core::function_id>& fs) {
  if (fs.empty())
    return;
  const auto nodes = place_each_locked(fs);
  for (size_t k = 0; k < fs.size(); ++k) {
    const core::function_id f = fs[k];
    auto& st = stats_[f];
    if (nodes[k] < 0) {
      note_unplaced_locked(f, 1);
      continue;
    }
    st.unplaced = 0;
    st.desired = std::max<uint32_t>(st.desired, 1);
    starts_.push_back({f, nodes[k], 1});
  }
  flush_starts_locked();
}

void control_plane::apply_activator_locked() {
  // Every tick, so that an instance that became ready since the decision is marked too (a
  // reused endpoint's reset cleared its mark).
  for (const auto& [ep, x] : instances_)
    if (x.function < via_activator_.size())
      if (auto* s = rt_.board().slot(ep))
        s->activator.store(via_activator_[x.function] ? 1 : 0, std::memory_order_relaxed);
  for (size_t f = 0; f < via_activator_.size(); ++f)
    gw_.set_activator(static_cast<core::function_id>(f), via_activator_[f] != 0);
}

} // namespace spry::gateway
