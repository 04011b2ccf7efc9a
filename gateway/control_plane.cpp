#include "gateway/control_plane.hpp"

#include "core/clock.hpp"
#include "core/runtime.hpp"
#include "gateway/gateway.hpp"
#include "gateway/metrics.hpp"
#include "policies/autoscaling/autoscaler_actor.hpp"
#include "policies/placement/placement_actor.hpp"

#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

namespace spry::gateway {

namespace {

constexpr std::array<double, 11> cold_bounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,    2.5,   5,    10};
// How often the loop looks at draining instances and held requests between decisions.
constexpr uint64_t drain_poll_ms = 20;
// Requests in flight are sampled at least this often for the time-averaged concurrency the
// autoscaler gets (concurrency_average.hpp); a few board reads per instance, under a second
// like the queue-proxy's reporting period.
constexpr uint64_t concurrency_sample_ms = 100;

std::string label_value(const std::string& s) { return prometheus_label(s); }

} // namespace

control_plane::control_plane(core::runtime& rt, gateway& gw, app_policies policies)
  : rt_(rt), gw_(gw), app_(rt.app()) {
  autoscaler_name_ = std::string(policies.autoscaler->name());
  placement_name_ = std::string(policies.placement->name());
  autoscaler_ = policies::autoscaling::spawn_autoscaler_actor(rt_.system(), std::move(policies.autoscaler));
  placement_ = policies::placement::spawn_placement_actor(rt_.system(), std::move(policies.placement));
  if (app_.nodes.empty()) {
    // No `nodes:`: one node, the whole machine, which placement does not limit (the app's
    // instance counts are the limit), and nothing is pinned.
    node n;
    n.name = "local";
    n.cpu_capacity = 1e9;
    n.memory_capacity = 1e12;
    nodes_.push_back(n);
  } else {
    for (const auto& spec : app_.nodes) {
      node n;
      n.name = spec.name;
      n.cpus = spec.cpus;
      n.cpu_capacity = spec.cpus.empty() ? static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN))
                                         : static_cast<double>(spec.cpus.size());
      n.memory_capacity = spec.memory ? spec.memory / 1048576.0 : 1e12;
      n.speed = spec.speed;
      n.instance_cpu_limit = spec.instance_cpu_limit;
      nodes_.push_back(n);
    }
  }
  stats_.resize(app_.functions.size());
  // `fixed` never asks for a decision: what it wants is what it keeps, min_instances (status and
  // spry_function_desired_instances would say 0 otherwise). A cluster's targets replace it.
  if (autoscaler_name_ == "fixed")
    for (size_t f = 0; f < stats_.size(); ++f)
      stats_[f].desired = app_.functions[f].min_instances;
  warm_until_ns_.assign(app_.functions.size(), 0);
  via_activator_.assign(app_.functions.size(), 0);
  // Knative's default target burst capacity (200) puts the activator in the path of every small
  // revision, where it caps each pod at its containerConcurrency, which Knative leaves unlimited
  // by default. A spry function's `concurrency` is always a hard limit, so applying KPA's default
  // live would gate every KPA app; the rule applies live when the app asks for it by name.
  for (const auto& [key, value] : app_.autoscaling.policy.params)
    live_activator_ = live_activator_ || (autoscaler_name_ == "kpa" && key == "target_burst_capacity");
  for (auto& s : stats_)
    s.cold_buckets.assign(cold_bounds.size(), 0);
  initial_nodes_.resize(app_.functions.size());
  if (!rt_.in_process_instances())
    limiter_ = core::cpu_limiter::detect("spry-" + app_.name + "-" + std::to_string(getpid()));
}

control_plane::~control_plane() {
  stop();
  caf::anon_send_exit(autoscaler_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(placement_, caf::exit_reason::user_shutdown);
}

std::vector<unsigned> control_plane::initial_cpus(core::function_id f) {
  std::lock_guard<std::mutex> guard{mtx_};
  const int n = place_locked(f);
  if (n < 0) {
    spdlog::warn("function '{}': no node has room for one of its min_instances (cpu {}, memory "
                 "{} MiB); starting it unpinned",
                 app_.functions[f].name, app_.functions[f].cpu, app_.functions[f].memory >> 20);
    stats_[f].unplaced++;
    initial_nodes_[f].push_back(-1);
    return {};
  }
  initial_nodes_[f].push_back(n);
  // Count it on its node now, so the next initial instance sees the node's new use.
  instances_[core::no_endpoint - 1 - static_cast<core::endpoint_id>(initial_placeholders_++)] =
    inst{f, n, inst_state::starting, 0};
  return nodes_[static_cast<size_t>(n)].cpus;
}

void control_plane::on_ready(core::endpoint_id ep, uint64_t start_ns) {
  {
    std::lock_guard<std::mutex> guard{events_mtx_};
    ready_events_.emplace_back(ep, start_ns);
    wake_ = true;
  }
  cv_.notify_one();
}

core::expected<std::string> control_plane::reload_library(const std::string& path) {
  // Under mtx_ so that no scaling decision runs between the swap and the replacements: the
  // autoscaler sees the same number of live instances before and after.
  std::lock_guard<std::mutex> guard{mtx_};
  auto replaced = rt_.replace_library(path);
  if (!replaced)
    return replaced.err();
  std::vector<core::endpoint_id> old;
  for (const auto& [ep, x] : instances_)
    if (x.state != inst_state::retiring)
      old.push_back(ep);
  const uint64_t now = core::now_ns();
  size_t restarted = 0;
  std::string trouble;
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
    // In-process (the only case replace_library accepts so far): ready, and in the directory,
    // when add_instance returns. Not a cold start: no request waited for it.
    inst y{x.function, x.node, inst_state::ready, now};
    if (const auto* s = rt_.board().slot(*fresh)) {
      y.arrivals = s->arrivals.load(std::memory_order_relaxed);
      y.completions = s->completions.load(std::memory_order_relaxed);
      y.busy_ns = s->busy_ns.load(std::memory_order_relaxed);
      for (size_t b = 0; b < core::exec_buckets; ++b)
        y.exec_seen[b] = s->exec_histogram[b].load(std::memory_order_relaxed);
      y.busy_seen = y.busy_ns;
    }
    // `x` may move when the map grows: retire through the key.
    instances_[*fresh] = y;
    rt_.retire_instance(ep);
    instances_[ep].state = inst_state::retiring;
    instances_[ep].since_ns = now;
    ++restarted;
  }
  std::string replaced_list;
  for (const auto& r : *replaced)
    replaced_list += (replaced_list.empty() ? "" : ", ") + r;
  spdlog::info("function library {} replaced {}: {} instance(s) restarting on the new code{}",
               path, replaced_list, restarted, trouble);
  return "function library " + path + " replaced " + replaced_list + ": " +
         std::to_string(restarted) + " instance(s) restarted on the new code" + trouble;
}

void control_plane::on_down(core::endpoint_id) {
  {
    std::lock_guard<std::mutex> guard{events_mtx_};
    wake_ = true;
  }
  cv_.notify_one();
}

void control_plane::activate(core::function_id, core::chain_id chain) {
  {
    std::lock_guard<std::mutex> guard{events_mtx_};
    if (std::find(warm_chains_.begin(), warm_chains_.end(), chain) == warm_chains_.end())
      warm_chains_.push_back(chain);
    wake_ = true;
  }
  cv_.notify_one();
}

void control_plane::set_targets(std::vector<uint32_t> targets) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    managed_ = true;
    targets_ = std::move(targets);
    targets_.resize(app_.functions.size(), 0);
  }
  {
    std::lock_guard<std::mutex> guard{events_mtx_};
    wake_ = true;
  }
  cv_.notify_one();
}

control_plane::load_view control_plane::load() const {
  std::lock_guard<std::mutex> guard{mtx_};
  load_view v;
  v.functions = last_metrics_;
  v.functions.resize(app_.functions.size());
  v.ready = last_ready_;
  v.ready.resize(app_.functions.size(), 0);
  v.starting = last_starting_;
  v.starting.resize(app_.functions.size(), 0);
  for (const auto& st : stats_) {
    v.cold_starts += st.cold_count;
    v.cold_start_seconds += st.cold_sum;
    v.busy_ns += st.busy_total_ns;
  }
  return v;
}

void control_plane::start() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // The placeholders stood for initial instances until they had endpoints.
    for (auto i = instances_.begin(); i != instances_.end();)
      i = i->first >= core::no_endpoint - initial_placeholders_ ? instances_.erase(i) : std::next(i);
    sync_instances_locked();
    last_tick_ns_ = last_decision_ns_ = start_ns_ = core::now_ns();
  }
  thread_ = std::thread([this] { run(); });
}

void control_plane::stop() {
  {
    std::lock_guard<std::mutex> guard{events_mtx_};
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable())
    thread_.join();
}

void control_plane::run() {
  const uint64_t interval_ns = uint64_t{app_.autoscaling.interval_ms} * 1000000;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock{events_mtx_};
      const uint64_t now = core::now_ns();
      const uint64_t next_decision = last_decision_ns_ + interval_ns;
      // Between decisions, poll only while something is in motion (draining, held requests).
      uint64_t wait_ns = next_decision > now ? next_decision - now : 0;
      if (busy_.load(std::memory_order_relaxed))
        wait_ns = std::min<uint64_t>(wait_ns, drain_poll_ms * 1000000);
      // Requests wait at the activator for a slot that frees inside the chain, where the
      // gateway does not see it (a chain's completion releases at once, gateway::on_descriptor).
      if (slot_waits_.load(std::memory_order_relaxed))
        wait_ns = std::min<uint64_t>(wait_ns, 1000000);
      const bool sample_only = wait_ns > concurrency_sample_ms * 1000000;
      wait_ns = std::min<uint64_t>(wait_ns, concurrency_sample_ms * 1000000);
      const bool woken =
        cv_.wait_for(lock, std::chrono::nanoseconds(wait_ns), [&] { return wake_ || stopping_; });
      if (stopping_)
        return;
      wake_ = false;
      if (sample_only && !woken) {
        lock.unlock();
        sample_concurrency(); // nothing else is due: only the concurrency sample
        continue;
      }
    }
    tick(core::now_ns() >= last_decision_ns_ + interval_ns);
  }
}

std::vector<uint32_t> control_plane::in_flight_locked() const {
  std::vector<uint32_t> out(stats_.size(), 0);
  for (const auto& [ep, x] : instances_)
    if (x.function < out.size())
      out[x.function] += rt_.board().in_flight(ep);
  return out;
}

void control_plane::sample_concurrency() {
  std::lock_guard<std::mutex> guard{mtx_};
  const uint64_t now = core::now_ns();
  const auto in_flight = in_flight_locked();
  for (size_t f = 0; f < stats_.size(); ++f)
    stats_[f].concurrency.sample(
      now, in_flight[f] + static_cast<double>(gw_.held(static_cast<core::function_id>(f))));
}

void control_plane::sync_instances_locked() {
  // The runtime's view wins: instances it runs that we did not start (the initial ones) are
  // adopted; ones it no longer runs are forgotten.
  const auto dir = rt_.directory().snapshot();
  std::map<core::endpoint_id, core::function_id> live;
  for (const auto& p : rt_.processes())
    live[p.endpoint] = p.function;
  for (const auto& i : rt_.instances())
    live[i.endpoint] = i.function;
  for (auto i = instances_.begin(); i != instances_.end();) {
    if (live.count(i->first)) {
      ++i;
      continue;
    }
    if (limiter_) // its process is gone: so can its group be
      limiter_->remove(std::to_string(i->first));
    fold_exec_locked(i->first, i->second);
    i = instances_.erase(i);
  }
  for (const auto& [ep, f] : live) {
    if (instances_.count(ep))
      continue;
    inst x{f, -1, inst_state::ready, core::now_ns()};
    if (!initial_nodes_[f].empty()) {
      x.node = initial_nodes_[f].front();
      initial_nodes_[f].erase(initial_nodes_[f].begin());
    }
    const auto& listed = dir->of(f);
    if (std::find(listed.begin(), listed.end(), ep) == listed.end())
      x.state = inst_state::starting;
    auto* s = rt_.board().slot(ep);
    if (s) {
      x.arrivals = s->arrivals.load(std::memory_order_relaxed);
      x.completions = s->completions.load(std::memory_order_relaxed);
      x.busy_ns = s->busy_ns.load(std::memory_order_relaxed);
      // An endpoint id used before starts from what its previous instance left (or zero).
      for (size_t b = 0; b < core::exec_buckets; ++b)
        x.exec_seen[b] = s->exec_histogram[b].load(std::memory_order_relaxed);
      x.busy_seen = x.busy_ns;
    }
    instances_[ep] = x;
  }
}

void control_plane::tick(bool decide) {
  std::vector<std::pair<core::endpoint_id, uint64_t>> ready;
  std::vector<core::chain_id> warm;
  {
    std::lock_guard<std::mutex> guard{events_mtx_};
    ready.swap(ready_events_);
    warm.swap(warm_chains_);
  }
  bool moving = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    const uint64_t now = core::now_ns();
    for (auto& [ep, x] : instances_)
      fold_exec_locked(ep, x);
    for (const auto& [ep, start_ns] : ready) {
      auto i = instances_.find(ep);
      if (i == instances_.end() || i->second.state != inst_state::starting || !i->second.scaled)
        continue;
      i->second.state = inst_state::ready;
      // Cold start: from the decision to start it until it is ready to serve.
      const double s = (start_ns ? start_ns : now - i->second.since_ns) / 1e9;
      auto& st = stats_[i->second.function];
      st.cold_count++;
      st.cold_sum += s;
      for (size_t b = 0; b < cold_bounds.size(); ++b)
        if (s <= cold_bounds[b])
          st.cold_buckets[b]++;
      spdlog::info("function '{}': instance {} ready after a {:.1f} ms cold start",
                   app_.functions[i->second.function].name, ep, s * 1e3);
    }
    sync_instances_locked();

    // Metrics agent: what every instance counted on the board since the last tick.
    const double dt = std::max(1e-3, (now - last_tick_ns_) / 1e9);
    last_tick_ns_ = now;
    std::vector<uint32_t> in_flight(stats_.size(), 0), queued(stats_.size(), 0);
    std::vector<uint32_t> ready_n(stats_.size(), 0), starting_n(stats_.size(), 0);
    for (auto& [ep, x] : instances_) {
      const auto* s = rt_.board().slot(ep);
      if (!s)
        continue;
      const uint64_t a = s->arrivals.load(std::memory_order_relaxed);
      const uint64_t c = s->completions.load(std::memory_order_relaxed);
      const uint64_t b = s->busy_ns.load(std::memory_order_relaxed);
      auto& st = stats_[x.function];
      st.acc_arrivals += a >= x.arrivals ? a - x.arrivals : 0;
      st.acc_completions += c >= x.completions ? c - x.completions : 0;
      st.acc_busy_ns += b >= x.busy_ns ? b - x.busy_ns : 0;
      x.arrivals = a;
      x.completions = c;
      x.busy_ns = b;
      const uint32_t q = rt_.board().in_flight(ep);
      in_flight[x.function] += q;
      const uint32_t conc = app_.functions[x.function].concurrency;
      queued[x.function] += q > conc ? q - conc : 0;
      if (x.state == inst_state::ready)
        ready_n[x.function]++;
      else if (x.state == inst_state::starting)
        starting_n[x.function]++;
    }
    (void)dt;
    if (!decide) // a decision takes its own last sample below
      for (size_t f = 0; f < stats_.size(); ++f)
        stats_[f].concurrency.sample(
          now, in_flight[f] + static_cast<double>(gw_.held(static_cast<core::function_id>(f))));

    if (decide) {
      const double interval = std::max(1e-3, (now - last_decision_ns_) / 1e9);
      last_decision_ns_ = now;
      policies::autoscaling::scaling_snapshot snap;
      snap.now_s = (now - start_ns_) / 1e9;
      snap.interval_s = interval;
      for (const auto& n : nodes_)
        snap.cluster_cpu += n.cpu_capacity;
      if (snap.cluster_cpu >= 1e9)
        snap.cluster_cpu = 0; // unbounded
      // What is not reserved now: Mu grows a function only into this (unbounded: not known).
      snap.free_cpu = snap.free_memory_mb = 0;
      for (size_t n = 0; n < nodes_.size(); ++n) {
        snap.free_cpu += std::max(0.0, nodes_[n].cpu_capacity - node_cpu_used_locked(static_cast<int>(n)));
        snap.free_memory_mb +=
          std::max(0.0, nodes_[n].memory_capacity - node_memory_used_locked(static_cast<int>(n)));
      }
      if (snap.cluster_cpu == 0)
        snap.free_cpu = -1;
      if (snap.free_memory_mb >= 1e9)
        snap.free_memory_mb = -1;
      for (size_t f = 0; f < stats_.size(); ++f) {
        auto& st = stats_[f];
        const auto& spec = app_.functions[f];
        const uint32_t held = static_cast<uint32_t>(gw_.held(static_cast<core::function_id>(f)));
        st.arrival_rate = st.acc_arrivals / interval;
        st.departure_rate = st.acc_completions / interval;
        if (st.acc_completions)
          st.service_time_s = st.acc_busy_ns / 1e9 / st.acc_completions;
        st.queue_length = queued[f] + held;
        st.in_flight = in_flight[f] + held;
        policies::autoscaling::function_metrics m;
        m.arrival_rate = st.arrival_rate + (ready_n[f] == 0 ? held / interval : 0);
        // Averaged over the interval, not the count at this instant (concurrency_average.hpp).
        // At least the busy time of the requests completed in it, per second of interval (the
        // concurrency-seconds they contributed): requests shorter than the sampling period (a
        // 1 ms function between two samples 100 ms apart) are invisible to the samples, and
        // without them a function serving sparse short requests looked idle, so the KPA took it
        // to zero a grace period after the last request it happened to sample, in the middle of
        // its traffic. Knative's queue-proxy counts every request, however short.
        m.concurrency = std::max(st.concurrency.take(now, st.in_flight),
                                 st.acc_busy_ns / 1e9 / interval);
        m.queue_length = st.queue_length;
        m.service_time_s = st.service_time_s;
        m.ready_instances = ready_n[f];
        m.pending_instances = starting_n[f];
        set_spec_metrics(m, spec);
        snap.functions.push_back(m);
        st.acc_arrivals = st.acc_completions = st.acc_busy_ns = 0;
      }
      last_metrics_ = snap.functions;
      if (managed_) {
        // the controller's targets are applied below, on every tick
      } else if (autoscaler_name_ != "fixed") { // fixed: min_instances, as started
        std::vector<policies::autoscaling::scaling_decision> decisions;
        caf::scoped_actor self{rt_.system()};
        self->request(autoscaler_, std::chrono::seconds(5), policies::autoscaling::scale_atom::value, snap)
          .receive([&](std::vector<policies::autoscaling::scaling_decision>& d) { decisions = std::move(d); },
                   [&](caf::error& e) { spdlog::error("autoscaler: {}", rt_.system().render(e)); });
        // Every function's new size first: CPU a deflation frees on a node is room for another
        // function's new instances in the same decision (node_cpu_used_locked).
        for (size_t f = 0; f < decisions.size() && f < stats_.size(); ++f)
          stats_[f].cpu_fraction = std::clamp(decisions[f].cpu_fraction, 0.01, 1.0);
        for (size_t f = 0; f < decisions.size() && f < stats_.size(); ++f)
          scale_locked(static_cast<core::function_id>(f), decisions[f].instances);
        if (live_activator_)
          for (size_t f = 0; f < decisions.size() && f < stats_.size(); ++f)
            via_activator_[f] = decisions[f].via_activator;
      }
    } else if (!managed_ && autoscaler_name_ != "fixed") {
      // Between decisions only activation: a held request for a function at zero.
      for (size_t f = 0; f < stats_.size(); ++f)
        if (ready_n[f] + starting_n[f] == 0 && gw_.held(static_cast<core::function_id>(f)) > 0)
          scale_locked(static_cast<core::function_id>(f), 1);
    }
    if (managed_)
      for (size_t f = 0; f < targets_.size() && f < stats_.size(); ++f)
        scale_locked(static_cast<core::function_id>(f), targets_[f]);
    // Whole-chain warm-up: a request held for a function at zero starts every function of its
    // chain at zero at once, so the chain's first request pays one cold start, not one per hop.
    if (!managed_ && autoscaler_name_ != "fixed")
      for (auto c : warm)
        for (auto fn : core::functions_of_chain(app_, c)) {
          if (fn >= stats_.size())
            continue;
          // Until the request got there: the autoscaler, seeing no traffic yet, must not undo it.
          warm_until_ns_[fn] = std::max(warm_until_ns_[fn],
                                        now + uint64_t{app_.chains[c].timeout_ms} * 1000000);
          if (ready_n[fn] + starting_n[fn] == 0 &&
              std::none_of(instances_.begin(), instances_.end(), [&](const auto& e) {
                return e.second.function == fn && e.second.state != inst_state::retiring;
              }))
            scale_locked(fn, 1);
        }
    last_ready_ = ready_n;
    last_starting_ = starting_n;
    drain_locked();
    apply_cpu_limits_locked();
    if (live_activator_)
      apply_activator_locked();
    for (const auto& [ep, x] : instances_)
      moving = moving || x.state != inst_state::ready;
    ticks_++;
  }
  gw_.release_held();
  bool slot_waits = false;
  for (size_t f = 0; f < stats_.size(); ++f)
    if (gw_.held(static_cast<core::function_id>(f)) > 0) {
      moving = true;
      slot_waits = slot_waits || gw_.activator_in_path(static_cast<core::function_id>(f));
    }
  busy_.store(moving, std::memory_order_relaxed);
  slot_waits_.store(slot_waits, std::memory_order_relaxed);
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
  for (const auto& [ep, x] : instances_)
    if (x.function == f && x.state != inst_state::retiring)
      alive.push_back(ep);
  const uint64_t now = core::now_ns();
  if (desired > alive.size()) {
    bool short_of_room = false;
    for (size_t k = alive.size(); k < desired; ++k) {
      const int n = place_locked(f);
      if (n < 0) {
        const auto unplaced = static_cast<uint32_t>(desired - k);
        if (unplaced != st.unplaced) // said once per change, not every tick
          spdlog::warn("function '{}': {} instance(s) wanted do not fit on any node", spec.name,
                       unplaced);
        st.unplaced = unplaced;
        short_of_room = true;
        break;
      }
      auto ep = rt_.add_instance(f, nodes_[static_cast<size_t>(n)].cpus);
      if (!ep) {
        spdlog::error("function '{}': cannot start an instance: {}", spec.name, ep.err().message);
        break;
      }
      inst x{f, n, inst_state::starting, now};
      x.scaled = true;
      if (const auto* s = rt_.board().slot(*ep)) {
        x.arrivals = s->arrivals.load(std::memory_order_relaxed);
        x.completions = s->completions.load(std::memory_order_relaxed);
        x.busy_ns = s->busy_ns.load(std::memory_order_relaxed);
        for (size_t b = 0; b < core::exec_buckets; ++b)
          x.exec_seen[b] = s->exec_histogram[b].load(std::memory_order_relaxed);
        x.busy_seen = x.busy_ns;
      }
      // An in-process instance is ready at once, and may already be in the directory.
      instances_[*ep] = x;
      st.scale_ups++;
      spdlog::info("function '{}': scaling up to {} (instance {} on node '{}')", spec.name,
                   desired, *ep, nodes_[static_cast<size_t>(n)].name);
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
  for (const auto& [ep, x] : instances_)
    if (x.node == n)
      used += app_.functions[x.function].cpu * std::min(1.0, stats_[x.function].cpu_fraction);
  return used;
}

double control_plane::node_memory_used_locked(int n) const {
  double used = 0;
  for (const auto& [ep, x] : instances_)
    if (x.node == n)
      used += app_.functions[x.function].memory / 1048576.0;
  return used;
}

int control_plane::place_locked(core::function_id f) {
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
  policies::placement::placement_demand d;
  d.function = f;
  d.instances = 1;
  d.cpu = app_.functions[f].cpu;
  d.memory = app_.functions[f].memory / 1048576.0;
  d.created_s = (core::now_ns() - start_ns_) / 1e9;
  d.weight = app_.functions[f].weight;
  for (const auto& [ep, x] : instances_)
    if (x.function == f) {
      d.cpu_allocated += d.cpu * std::min(1.0, stats_[f].cpu_fraction); // as node_cpu_used_locked
      d.memory_allocated += d.memory;
    }
  req.demands.push_back(d);
  int node = -1;
  caf::scoped_actor self{rt_.system()};
  self->request(placement_, std::chrono::seconds(5), policies::placement::place_atom::value, req)
    .receive(
      [&](policies::placement::placement_result& r) {
        if (!r.assignments.empty())
          node = static_cast<int>(r.assignments.front().node);
      },
      [&](caf::error& e) { spdlog::error("placement: {}", rt_.system().render(e)); });
  return node;
}

void control_plane::fold_exec_locked(core::endpoint_id ep, inst& x) {
  const auto* s = rt_.board().slot(ep);
  if (!s || x.function >= stats_.size())
    return;
  auto& st = stats_[x.function];
  // A value below what was seen means the slot was cleared (a restart after a crash): count
  // from zero again.
  for (size_t b = 0; b < core::exec_buckets; ++b) {
    const uint64_t v = s->exec_histogram[b].load(std::memory_order_relaxed);
    st.exec_total[b] += v >= x.exec_seen[b] ? v - x.exec_seen[b] : v;
    x.exec_seen[b] = v;
  }
  const uint64_t busy = s->busy_ns.load(std::memory_order_relaxed);
  st.busy_total_ns += busy >= x.busy_seen ? busy - x.busy_seen : busy;
  x.busy_seen = busy;
}

std::string control_plane::metrics_text() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::ostringstream o;
  auto family = [&](const char* name, const char* type, const char* help) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  std::vector<std::array<uint32_t, 3>> counts(stats_.size(), {0, 0, 0});
  for (const auto& [ep, x] : instances_)
    counts[x.function][static_cast<size_t>(x.state)]++;
  family("spry_function_instances", "gauge", "Instances per function and state");
  for (size_t f = 0; f < stats_.size(); ++f) {
    const auto fn = label_value(app_.functions[f].name);
    const char* states[] = {"starting", "ready", "retiring"};
    for (size_t s = 0; s < 3; ++s)
      o << "spry_function_instances{function=\"" << fn << "\",state=\"" << states[s] << "\"} "
        << counts[f][s] << '\n';
  }
  auto per_function = [&](const char* name, const char* type, const char* help, auto value) {
    family(name, type, help);
    for (size_t f = 0; f < stats_.size(); ++f)
      o << name << "{function=\"" << label_value(app_.functions[f].name) << "\"} " << value(f)
        << '\n';
  };
  per_function("spry_function_desired_instances", "gauge",
               "Instances the autoscaler asked for at its last decision",
               [&](size_t f) { return stats_[f].desired; });
  per_function("spry_function_arrival_rate", "gauge",
               "Requests per second that reached the function's instances in the last interval",
               [&](size_t f) { return stats_[f].arrival_rate; });
  per_function("spry_function_in_flight", "gauge",
               "Requests queued or running at the function's instances, plus held ones",
               [&](size_t f) { return stats_[f].in_flight; });
  per_function("spry_function_queue_length", "gauge",
               "Requests waiting beyond the instances' concurrency, plus held ones",
               [&](size_t f) { return stats_[f].queue_length; });
  per_function("spry_function_service_seconds", "gauge",
               "Mean execution time of the function's recent requests",
               [&](size_t f) { return stats_[f].service_time_s; });
  per_function("spry_function_held_requests", "gauge",
               "Requests held at the gateway until the function has an instance or, with the "
               "activator in its path, a free slot",
               [&](size_t f) { return gw_.held(static_cast<core::function_id>(f)); });
  per_function("spry_function_activator_in_path", "gauge",
               "1 while KPA puts the activator in the function's path (target_burst_capacity)",
               [&](size_t f) { return gw_.activator_in_path(static_cast<core::function_id>(f)) ? 1 : 0; });
  per_function("spry_function_activator_holds_total", "counter",
               "Requests the activator held for a free slot of the function's instances",
               [&](size_t f) {
                 return static_cast<double>(gw_.activator_holds(static_cast<core::function_id>(f)));
               });
  per_function("spry_function_cpu_fraction", "gauge",
               "Each instance's CPU as a fraction of its size (below 1: deflated)",
               [&](size_t f) { return stats_[f].cpu_fraction; });
  per_function("spry_function_unplaced_instances", "gauge",
               "Instances wanted that fit on no node at the last attempt",
               [&](size_t f) { return stats_[f].unplaced; });
  per_function("spry_function_departure_rate", "gauge",
               "Requests per second the function's instances finished in the last interval",
               [&](size_t f) { return stats_[f].departure_rate; });
  // Per-function execution time: the live instances' board histograms plus what instances that
  // are gone had counted, so the histogram only ever counts up.
  family("spry_function_execution_seconds", "histogram",
         "Execution time of the function on all its instances (endpoint board)");
  for (size_t f = 0; f < stats_.size(); ++f) {
    auto sum = stats_[f].exec_total;
    uint64_t busy_ns = stats_[f].busy_total_ns;
    for (const auto& [ep, x] : instances_) { // plus what live instances counted since the fold
      const auto* s = rt_.board().slot(ep);
      if (x.function != f || !s)
        continue;
      for (size_t b = 0; b < core::exec_buckets; ++b) {
        const uint64_t v = s->exec_histogram[b].load(std::memory_order_relaxed);
        sum[b] += v >= x.exec_seen[b] ? v - x.exec_seen[b] : v;
      }
      const uint64_t v = s->busy_ns.load(std::memory_order_relaxed);
      busy_ns += v >= x.busy_seen ? v - x.busy_seen : v;
    }
    const double busy = busy_ns / 1e9;
    uint64_t n = 0;
    const auto fn = label_value(app_.functions[f].name);
    for (size_t b = 0; b + 1 < core::exec_buckets; ++b) {
      n += sum[b];
      o << "spry_function_execution_seconds_bucket{function=\"" << fn << "\",le=\""
        << core::exec_bucket_bounds_ns[b] / 1e9 << "\"} " << n << '\n';
    }
    n += sum[core::exec_buckets - 1];
    o << "spry_function_execution_seconds_bucket{function=\"" << fn << "\",le=\"+Inf\"} " << n << '\n';
    o << "spry_function_execution_seconds_sum{function=\"" << fn << "\"} " << busy << '\n';
    o << "spry_function_execution_seconds_count{function=\"" << fn << "\"} " << n << '\n';
  }
  family("spry_scaling_events_total", "counter", "Instances started or retired by the autoscaler");
  for (size_t f = 0; f < stats_.size(); ++f) {
    const auto fn = label_value(app_.functions[f].name);
    o << "spry_scaling_events_total{function=\"" << fn << "\",direction=\"up\"} "
      << stats_[f].scale_ups << '\n';
    o << "spry_scaling_events_total{function=\"" << fn << "\",direction=\"down\"} "
      << stats_[f].scale_downs << '\n';
  }
  family("spry_cold_start_seconds", "histogram",
         "From the decision to start an instance until it is ready to serve");
  for (size_t f = 0; f < stats_.size(); ++f) {
    const auto fn = label_value(app_.functions[f].name);
    for (size_t b = 0; b < cold_bounds.size(); ++b)
      o << "spry_cold_start_seconds_bucket{function=\"" << fn << "\",le=\"" << cold_bounds[b]
        << "\"} " << stats_[f].cold_buckets[b] << '\n';
    o << "spry_cold_start_seconds_bucket{function=\"" << fn << "\",le=\"+Inf\"} "
      << stats_[f].cold_count << '\n';
    o << "spry_cold_start_seconds_sum{function=\"" << fn << "\"} " << stats_[f].cold_sum << '\n';
    o << "spry_cold_start_seconds_count{function=\"" << fn << "\"} " << stats_[f].cold_count << '\n';
  }
  const std::string transport = label_value(app_.transport);
  family("spry_instance_in_flight", "gauge",
         "Requests sent to the instance and not finished by it (endpoint board)");
  for (const auto& [ep, x] : instances_)
    o << "spry_instance_in_flight{function=\"" << label_value(app_.functions[x.function].name)
      << "\",instance=\"" << ep << "\",transport=\"" << transport << "\"} "
      << rt_.board().in_flight(ep) << '\n';
  family("spry_instance_completed_total", "counter", "Requests the instance finished");
  for (const auto& [ep, x] : instances_)
    if (const auto* s = rt_.board().slot(ep))
      o << "spry_instance_completed_total{function=\"" << label_value(app_.functions[x.function].name)
        << "\",instance=\"" << ep << "\",transport=\"" << transport << "\"} "
        << s->completions.load(std::memory_order_relaxed) << '\n';
  family("spry_instance_busy_seconds_total", "counter", "Time the instance spent running its function");
  for (const auto& [ep, x] : instances_)
    if (const auto* s = rt_.board().slot(ep))
      o << "spry_instance_busy_seconds_total{function=\"" << label_value(app_.functions[x.function].name)
        << "\",instance=\"" << ep << "\",transport=\"" << transport << "\"} "
        << s->busy_ns.load(std::memory_order_relaxed) / 1e9 << '\n';
  family("spry_instance_rejected_descriptors_total", "counter",
         "Descriptors the instance refused on validation (forged, stale or out of range)");
  for (const auto& [ep, x] : instances_)
    if (const auto* s = rt_.board().slot(ep))
      o << "spry_instance_rejected_descriptors_total{function=\"" << label_value(app_.functions[x.function].name)
        << "\",instance=\"" << ep << "\",transport=\"" << transport << "\"} "
        << s->rejected.load(std::memory_order_relaxed) << '\n';
  family("spry_node_cpu_allocated", "gauge",
         "Cores allocated to instances placed on the node (deflated instances: what their limit allows)");
  for (size_t n = 0; n < nodes_.size(); ++n)
    o << "spry_node_cpu_allocated{node=\"" << label_value(nodes_[n].name) << "\"} "
      << node_cpu_used_locked(static_cast<int>(n)) << '\n';
  family("spry_node_memory_allocated_bytes", "gauge", "Memory budgeted to instances on the node");
  for (size_t n = 0; n < nodes_.size(); ++n)
    o << "spry_node_memory_allocated_bytes{node=\"" << label_value(nodes_[n].name) << "\"} "
      << static_cast<uint64_t>(node_memory_used_locked(static_cast<int>(n)) * 1048576.0) << '\n';
  return o.str();
}

std::string control_plane::status_json() const {
  std::lock_guard<std::mutex> guard{mtx_};
  nlohmann::json j;
  j["app"] = app_.name;
  j["transport"] = app_.transport;
  j["cpu_limits"] = limiter_ ? limiter_->description() : std::string("not applied: instances are actors");
  j["policies"] = {{"load_balancer", app_.load_balancer},
                   {"autoscaler", autoscaler_name_},
                   {"placement", placement_name_},
                   {"interval_ms", app_.autoscaling.interval_ms}};
  std::map<core::endpoint_id, const core::instance_status*> procs;
  const auto processes = rt_.processes();
  for (const auto& p : processes)
    procs[p.endpoint] = &p;
  const char* states[] = {"starting", "ready", "retiring"};
  for (size_t f = 0; f < stats_.size(); ++f) {
    const auto& spec = app_.functions[f];
    const auto& st = stats_[f];
    nlohmann::json fj{{"name", spec.name},
                      {"min_instances", spec.min_instances},
                      {"max_instances", spec.max_instances},
                      {"desired_instances", st.desired},
                      {"arrival_rate", st.arrival_rate},
                      {"in_flight", st.in_flight},
                      {"service_time_s", st.service_time_s},
                      {"held_requests", gw_.held(static_cast<core::function_id>(f))},
                      {"unplaced_instances", st.unplaced},
                      {"cold_starts", st.cold_count},
                      {"cpu_fraction", st.cpu_fraction},
                      {"cold_start_mean_s", st.cold_count ? st.cold_sum / st.cold_count : 0.0},
                      {"instances", nlohmann::json::array()}};
    for (const auto& [ep, x] : instances_) {
      if (x.function != f)
        continue;
      nlohmann::json ij{{"endpoint", ep},
                        {"state", states[static_cast<size_t>(x.state)]},
                        {"node", x.node >= 0 ? nodes_[static_cast<size_t>(x.node)].name : std::string()},
                        {"in_flight", rt_.board().in_flight(ep)},
                        {"service_time_s", rt_.board().service_time_s(ep)}};
      if (x.limited_pid) {
        ij["cpu_limit_cores"] = x.limited_cores;
        ij["cpu_cgroup"] = limiter_->group_of(std::to_string(ep));
      }
      if (auto p = procs.find(ep); p != procs.end()) {
        ij["pid"] = p->second->pid;
        ij["restarts"] = p->second->restarts;
        ij["address"] = p->second->address;
      }
      fj["instances"].push_back(ij);
    }
    j["functions"].push_back(fj);
  }
  for (size_t n = 0; n < nodes_.size(); ++n) {
    nlohmann::json nj{{"name", nodes_[n].name},
                      {"cpus", nodes_[n].cpus},
                      {"cpu_allocated", node_cpu_used_locked(static_cast<int>(n))},
                      {"memory_allocated_mib", node_memory_used_locked(static_cast<int>(n))},
                      {"speed", nodes_[n].speed}};
    if (nodes_[n].instance_cpu_limit > 0)
      nj["instance_cpu_limit"] = nodes_[n].instance_cpu_limit;
    if (nodes_[n].cpu_capacity < 1e9)
      nj["cpu_capacity"] = nodes_[n].cpu_capacity;
    if (nodes_[n].memory_capacity < 1e12)
      nj["memory_capacity_mib"] = nodes_[n].memory_capacity;
    j["nodes"].push_back(nj);
  }
  return j.dump(2) + "\n";
}

} // namespace spry::gateway
