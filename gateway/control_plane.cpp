#include "gateway/control_plane.hpp"

#include "core/clock.hpp"
#include "core/runtime.hpp"
#include "gateway/control_report.hpp"
#include "gateway/gateway.hpp"
#include "gateway/metrics.hpp"
#include "policies/autoscaling/autoscaler_actor.hpp"
#include "policies/placement/placement_actor.hpp"

#include <caf/scoped_actor.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace spry::gateway {

namespace {

constexpr const auto& cold_bounds = cold_start_bounds;
// How often the loop looks at draining instances and held requests between decisions.
constexpr uint64_t drain_poll_ms = 20;
// Requests in flight are sampled at least this often for the time-averaged concurrency the
// autoscaler gets (concurrency_average.hpp); a few board reads per instance, under a second
// like the queue-proxy's reporting period.
constexpr uint64_t concurrency_sample_ms = 100;
// An instance's `ready` is recorded (its state, the cold-start statistics and log line) this
// long after it came, not at once: the requests held for it are sent by the supervisor's
// thread as the directory lists it (server.cpp), and when a chain warms up on a small node
// the other instances still starting need the CPU a tick would take now.
constexpr uint64_t ready_record_delay_ns = 2000000;
// A decision due in the tick that warms a chain up is made this much later (once per decision):
// the question to the autoscaler and the scaling after it would take CPU from the instances
// just started, which the request is waiting for.
constexpr uint64_t warm_up_decision_delay_ns = 5000000;

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
  asker_.reset();
  caf::anon_send_exit(autoscaler_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(placement_, caf::exit_reason::user_shutdown);
}

caf::scoped_actor& control_plane::asker_locked() {
  if (!asker_)
    asker_ = std::make_unique<caf::scoped_actor>(rt_.system());
  return *asker_;
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
    if (ready_events_.empty())
      ready_since_ns_ = core::now_ns();
    ready_events_.emplace_back(ep, start_ns);
  }
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
      const uint64_t next_decision = next_decision_ns(interval_ns);
      // Between decisions, poll only while something is in motion (draining, held requests).
      uint64_t wait_ns = next_decision > now ? next_decision - now : 0;
      if (busy_.load(std::memory_order_relaxed))
        wait_ns = std::min<uint64_t>(wait_ns, drain_poll_ms * 1000000);
      // Requests wait at the activator for a slot that frees inside the chain, where the
      // gateway does not see it (a chain's completion releases at once, gateway::on_descriptor).
      if (slot_waits_.load(std::memory_order_relaxed))
        wait_ns = std::min<uint64_t>(wait_ns, 1000000);
      if (!ready_events_.empty()) {
        const uint64_t due = ready_since_ns_ + ready_record_delay_ns;
        wait_ns = std::min<uint64_t>(wait_ns, due > now ? due - now : 0);
      }
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
    tick(core::now_ns() >= next_decision_ns(interval_ns));
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
    seed_from_board(ep, x);
    instances_[ep] = x;
  }
}

void control_plane::seed_from_board(core::endpoint_id ep, inst& x) const {
  const auto* s = rt_.board().slot(ep);
  if (!s)
    return;
  x.arrivals = s->arrivals.load(std::memory_order_relaxed);
  x.completions = s->completions.load(std::memory_order_relaxed);
  x.busy_ns = s->busy_ns.load(std::memory_order_relaxed);
  // An endpoint id used before starts from what its previous instance left (or zero).
  for (size_t b = 0; b < core::exec_buckets; ++b)
    x.exec_seen[b] = s->exec_histogram[b].load(std::memory_order_relaxed);
  x.busy_seen = x.busy_ns;
}

uint64_t control_plane::next_decision_ns(uint64_t interval_ns) const {
  return std::max(last_decision_ns_ + interval_ns, decide_at_ns_);
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
      if (i == instances_.end() || i->second.state != inst_state::starting ||
          !(i->second.scaled || i->second.replacement))
        continue;
      i->second.state = inst_state::ready;
      if (!i->second.scaled)
        continue; // a hot reload's replacement: no request waited for it
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
    supersede_locked();

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

    // Every start this tick decides goes out in one batch (flush_starts_locked below).
    batching_ = true;
    // Whole-chain warm-up: a request held for a function at zero starts every function of its
    // chain at zero at once, so the chain's first request pays one cold start, not one per hop.
    // First in the tick, placed in one question and started at once: the decision below (a
    // question to the autoscaler) need not delay the instances a request waits for, and it
    // sees them as alive.
    if (!managed_ && autoscaler_name_ != "fixed") {
      std::vector<core::function_id> cold;
      for (auto c : warm)
        for (auto fn : core::functions_of_chain(app_, c)) {
          if (fn >= stats_.size())
            continue;
          // Until the request got there: the autoscaler, seeing no traffic yet, must not undo it.
          warm_until_ns_[fn] = std::max(warm_until_ns_[fn],
                                        now + uint64_t{app_.chains[c].timeout_ms} * 1000000);
          if (ready_n[fn] + starting_n[fn] == 0 && app_.functions[fn].max_instances > 0 &&
              std::find(cold.begin(), cold.end(), fn) == cold.end() &&
              std::none_of(instances_.begin(), instances_.end(), [&](const auto& e) {
                return e.second.function == fn && e.second.state != inst_state::retiring;
              }))
            cold.push_back(fn);
        }
      warm_up_locked(cold);
      if (decide && !cold.empty() && decide_at_ns_ == 0) {
        decide = false;
        decide_at_ns_ = now + warm_up_decision_delay_ns;
      }
    }
    if (decide) {
      decide_at_ns_ = 0;
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
        auto& self = asker_locked();
        self->request(autoscaler_, caf::infinite, policies::autoscaling::scale_atom::value, snap)
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
    batching_ = false;
    flush_starts_locked();
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

control_report control_plane::report_locked() const {
  control_report r;
  r.app = app_.name;
  r.transport = app_.transport;
  r.cpu_limits =
    limiter_ ? limiter_->description() : std::string("not applied: instances are actors");
  r.load_balancer = app_.load_balancer;
  r.autoscaler = autoscaler_name_;
  r.placement = placement_name_;
  r.interval_ms = app_.autoscaling.interval_ms;
  for (size_t f = 0; f < stats_.size(); ++f) {
    const auto& spec = app_.functions[f];
    const auto& st = stats_[f];
    control_report::function fr;
    fr.name = spec.name;
    fr.min_instances = spec.min_instances;
    fr.max_instances = spec.max_instances;
    fr.desired = st.desired;
    fr.arrival_rate = st.arrival_rate;
    fr.departure_rate = st.departure_rate;
    fr.service_time_s = st.service_time_s;
    fr.in_flight = st.in_flight;
    fr.queue_length = st.queue_length;
    fr.unplaced = st.unplaced;
    fr.held = gw_.held(static_cast<core::function_id>(f));
    fr.activator_in_path = gw_.activator_in_path(static_cast<core::function_id>(f));
    fr.activator_holds = gw_.activator_holds(static_cast<core::function_id>(f));
    fr.scale_ups = st.scale_ups;
    fr.scale_downs = st.scale_downs;
    fr.cpu_fraction = st.cpu_fraction;
    fr.cold_count = st.cold_count;
    fr.cold_sum = st.cold_sum;
    fr.cold_buckets = st.cold_buckets;
    fr.exec = st.exec_total;
    fr.busy_ns = st.busy_total_ns;
    r.functions.push_back(std::move(fr));
  }
  std::map<core::endpoint_id, core::instance_status> procs;
  for (const auto& p : rt_.processes())
    procs[p.endpoint] = p;
  for (const auto& [ep, x] : instances_) {
    control_report::instance ir;
    ir.endpoint = ep;
    ir.function = x.function;
    ir.st = static_cast<control_report::state>(x.state);
    ir.node = x.node >= 0 ? nodes_[static_cast<size_t>(x.node)].name : std::string();
    ir.in_flight = rt_.board().in_flight(ep);
    ir.service_time_s = rt_.board().service_time_s(ep);
    if (const auto* s = rt_.board().slot(ep)) {
      ir.on_board = true;
      ir.completions = s->completions.load(std::memory_order_relaxed);
      ir.busy_ns = s->busy_ns.load(std::memory_order_relaxed);
      ir.rejected = s->rejected.load(std::memory_order_relaxed);
      // The function's execution totals plus what this live instance counted since the fold.
      if (x.function < r.functions.size()) {
        auto& fr = r.functions[x.function];
        for (size_t b = 0; b < core::exec_buckets; ++b) {
          const uint64_t v = s->exec_histogram[b].load(std::memory_order_relaxed);
          fr.exec[b] += v >= x.exec_seen[b] ? v - x.exec_seen[b] : v;
        }
        fr.busy_ns += ir.busy_ns >= x.busy_seen ? ir.busy_ns - x.busy_seen : ir.busy_ns;
      }
    }
    if (x.limited_pid) {
      ir.cpu_limit_cores = x.limited_cores;
      ir.cpu_cgroup = limiter_->group_of(std::to_string(ep));
    }
    if (auto p = procs.find(ep); p != procs.end()) {
      ir.pid = p->second.pid;
      ir.restarts = p->second.restarts;
      ir.address = p->second.address;
    }
    r.instances.push_back(std::move(ir));
  }
  for (size_t n = 0; n < nodes_.size(); ++n) {
    control_report::node nr;
    nr.name = nodes_[n].name;
    nr.cpus = nodes_[n].cpus;
    nr.cpu_allocated = node_cpu_used_locked(static_cast<int>(n));
    nr.memory_allocated_mib = node_memory_used_locked(static_cast<int>(n));
    nr.speed = nodes_[n].speed;
    nr.instance_cpu_limit = nodes_[n].instance_cpu_limit;
    if (nodes_[n].cpu_capacity < 1e9)
      nr.cpu_capacity = nodes_[n].cpu_capacity;
    if (nodes_[n].memory_capacity < 1e12)
      nr.memory_capacity_mib = nodes_[n].memory_capacity;
    r.nodes.push_back(std::move(nr));
  }
  return r;
}

std::string control_plane::metrics_text() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return ::spry::gateway::metrics_text(report_locked());
}

std::string control_plane::status_json() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return ::spry::gateway::status_json(report_locked());
}

} // namespace spry::gateway
