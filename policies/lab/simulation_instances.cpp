#include "policies/lab/simulation.hpp"

namespace spry::policies::lab::detail {

// -- instance lifecycle ------------------------------------------------------------------------

void simulation::create_instance(uint32_t f, uint32_t node, double fraction, bool initial) {
  account_global();
  const auto& fn = w_.functions[f];
  instance in;
  in.function = f;
  in.node = node;
  in.st = state::starting;
  in.initial = initial;
  in.cpu_fraction = fraction;
  in.reserved_cpu = fn.cpu * fraction;
  in.reserved_memory = fn.memory_mb;
  preq_.nodes[node].cpu_used += in.reserved_cpu;
  preq_.nodes[node].memory_used += in.reserved_memory;
  reserved_total_ += in.reserved_cpu;
  fs_[f].reserved_cpu += in.reserved_cpu;
  fs_[f].reserved_memory += in.reserved_memory;
  if (fs_[f].ready.empty() && fs_[f].starting.empty())
    fs_[f].uniform_fraction = in.cpu_fraction;
  else if (fs_[f].uniform_fraction != in.cpu_fraction)
    fs_[f].uniform_fraction = std::numeric_limits<double>::quiet_NaN();
  alive_++;
  const uint32_t id = static_cast<uint32_t>(instances_.size());
  instances_.push_back(std::move(in));
  fs_[f].starting.push_back(id);
  if (initial) {
    on_ready(id);
  } else {
    cold_starts_ += now_ >= window_start_ && now_ <= o_.duration_s;
    push(now_ + fn.cold_start_s, event_type::ready, id);
  }
}

void simulation::on_ready(uint32_t i) {
  auto& in = instances_[i];
  if (in.st != state::starting)
    return; // cancelled while starting
  const uint32_t f = in.function;
  auto& s = fs_[f];
  s.starting.erase(std::find(s.starting.begin(), s.starting.end(), i));
  in.st = state::ready;
  in.ready_pos = static_cast<uint32_t>(s.ready.size());
  s.ready.push_back(i);
  load_balancing::instance_load l;
  l.endpoint = i;
  l.queue_length = in.busy + static_cast<uint32_t>(in.queue.size());
  l.service_time_s = in.service_ewma;
  l.departure_rate = 0;
  l.concurrency = std::max<uint32_t>(1, w_.functions[f].concurrency);
  s.loads.push_back(l);
  s.completed_tick.push_back(0);
  account_capacity(f);
  s.capacity += capacity_of(in);
  pump_activator(f);
}

void simulation::kill(uint32_t i) {
  auto& in = instances_[i];
  account_global();
  auto& s = fs_[in.function];
  preq_.nodes[in.node].cpu_used -= in.reserved_cpu;
  preq_.nodes[in.node].memory_used -= in.reserved_memory;
  reserved_total_ -= in.reserved_cpu;
  s.reserved_cpu -= in.reserved_cpu;
  s.reserved_memory -= in.reserved_memory;
  alive_--;
  in.st = state::dead;
  in.queue.release();
}

void simulation::retire(uint32_t f, uint32_t count) {
  auto& s = fs_[f];
  // Instances still starting go first (nothing to drain, and the cold start is not finished),
  // newest first.
  while (count > 0 && !s.starting.empty()) {
    const uint32_t i = s.starting.back();
    s.starting.pop_back();
    kill(i);
    --count;
  }
  while (count > 0 && !s.ready.empty()) {
    // Then the least loaded ready instance (least work lost to draining), newest on ties.
    size_t pick = s.ready.size() - 1;
    for (size_t k = s.ready.size(); k-- > 0;)
      if (s.loads[k].queue_length < s.loads[pick].queue_length)
        pick = k;
    const uint32_t i = s.ready[pick];
    const auto at = static_cast<std::ptrdiff_t>(pick);
    s.ready.erase(s.ready.begin() + at);
    s.loads.erase(s.loads.begin() + at);
    s.completed_tick.erase(s.completed_tick.begin() + at);
    for (size_t k = pick; k < s.ready.size(); ++k)
      instances_[s.ready[k]].ready_pos = static_cast<uint32_t>(k);
    auto& in = instances_[i];
    account_capacity(f);
    s.capacity -= capacity_of(in);
    in.st = state::draining;
    if (in.busy == 0 && in.queue.empty())
      kill(i);
    --count;
  }
}

void simulation::set_fraction(uint32_t f, double fraction) {
  auto& s = fs_[f];
  // Every instance would return at the first test below (NaN compares false).
  if (std::fabs(s.uniform_fraction - fraction) < 1e-9)
    return;
  const auto& fn = w_.functions[f];
  bool first = true, uniform = true;
  double common = 0;
  auto resize = [&](uint32_t i, bool ready) {
    auto& in = instances_[i];
    auto note = [&] {
      uniform = uniform && (first || in.cpu_fraction == common);
      common = in.cpu_fraction;
      first = false;
    };
    if (std::fabs(in.cpu_fraction - fraction) < 1e-9)
      return note();
    double want = fn.cpu * fraction;
    auto& node = preq_.nodes[in.node];
    if (want > in.reserved_cpu) // inflate only into what the node has free
      want = std::min(want, in.reserved_cpu + std::max(0.0, node.cpu_free()));
    account_global();
    if (ready) {
      account_capacity(f);
      s.capacity -= capacity_of(in);
    }
    node.cpu_used += want - in.reserved_cpu;
    reserved_total_ += want - in.reserved_cpu;
    s.reserved_cpu += want - in.reserved_cpu;
    in.reserved_cpu = want;
    in.cpu_fraction = fn.cpu > 0 ? want / fn.cpu : 1.0;
    if (ready)
      s.capacity += capacity_of(in);
    note();
  };
  for (uint32_t i : s.ready)
    resize(i, true);
  for (uint32_t i : s.starting)
    resize(i, false);
  // With no instance left, the next one created sets it.
  s.uniform_fraction = uniform && !first ? common : std::numeric_limits<double>::quiet_NaN();
}

void simulation::place(std::vector<placement::placement_demand>& demands,
                       const std::vector<double>& fractions, bool initial) {
  if (demands.empty())
    return;
  if (&preq_.demands != &demands)
    preq_.demands = demands;
  placement_->place(preq_, pres_);
  for (const auto& a : pres_.assignments) {
    const auto& d = preq_.demands[a.demand];
    if (a.node >= preq_.nodes.size() || !preq_.nodes[a.node].fits(d.cpu, d.memory))
      continue; // a buggy engine must not overcommit a node: drop the assignment
    create_instance(d.function, a.node, fractions[a.demand], initial);
  }
  for (uint32_t u : pres_.unplaced)
    unplaced_now_ += u;
}

void simulation::on_tick() {
  const double interval = o_.tick_s;
  while (now_ >= next_window_end_ - 1e-9 && next_window_end_ <= o_.duration_s + 1e-9) {
    close_fairness_window();
    next_window_end_ += fairness_window_s;
  }
  snapshot_.now_s = now_;
  snapshot_.interval_s = interval;
  snapshot_.cluster_cpu = cluster_cpu_;
  snapshot_.free_cpu = 0;
  snapshot_.free_memory_mb = 0;
  for (const auto& n : preq_.nodes) {
    snapshot_.free_cpu += std::max(0.0, n.cpu_free());
    snapshot_.free_memory_mb += std::max(0.0, n.memory_free());
  }
  snapshot_.functions.resize(fs_.size());
  for (uint32_t f = 0; f < fs_.size(); ++f) {
    auto& s = fs_[f];
    const auto& fn = w_.functions[f];
    change_in_system(f, 0); // bring the integral up to now
    auto& m = snapshot_.functions[f];
    m.arrival_rate = static_cast<double>(s.arrivals_tick) / interval;
    m.concurrency = s.in_system_integral / interval;
    m.queue_length = s.queued;
    m.service_time_s = s.service_mean;
    m.ready_instances = static_cast<uint32_t>(s.ready.size());
    m.pending_instances = static_cast<uint32_t>(s.starting.size());
    m.instance_concurrency = fn.concurrency;
    m.cpu_per_instance = fn.cpu;
    m.memory_per_instance_mb = fn.memory_mb;
    m.slo_s = fn.slo_s;
    m.slo_percentile = fn.slo_percentile;
    m.weight = fn.weight;
    s.arrivals_tick = 0;
    s.in_system_integral = 0;
    // Skipped for a function whose rates are all 0 and stay 0 (most of a large trace's
    // functions, most of the time).
    if (s.completions_tick > 0 || s.departures_nonzero) {
      for (size_t k = 0; k < s.loads.size(); ++k) {
        s.loads[k].departure_rate = s.completed_tick[k] / interval;
        s.completed_tick[k] = 0;
      }
      s.departures_nonzero = s.completions_tick > 0;
      s.completions_tick = 0;
    }
  }
  autoscaler_->decide(snapshot_, decisions_);

  preq_.demands.clear();
  fractions_.clear();
  for (uint32_t f = 0; f < fs_.size() && f < decisions_.size(); ++f) {
    auto& s = fs_[f];
    const auto& d = decisions_[f];
    const double fraction = std::clamp(d.cpu_fraction, 0.01, 1.0);
    s.via_activator = d.via_activator;
    const uint32_t current = static_cast<uint32_t>(s.ready.size() + s.starting.size());
    // While the activator holds requests for a function it keeps one instance for them, whatever
    // the autoscaler says (in Knative the activator's buffered requests count as concurrency).
    const uint32_t wanted = s.activator.empty() ? d.instances : std::max<uint32_t>(1, d.instances);
    if (wanted < current)
      retire(f, current - wanted);
    set_fraction(f, fraction);
    if (wanted > current) {
      const auto& fn = w_.functions[f];
      // Instances that found no node last round are still pending, with their creation time.
      preq_.demands.push_back(placement::placement_demand{
        f, wanted - current, fn.cpu * fraction, fn.memory_mb, s.reserved_cpu,
        s.reserved_memory, s.waiting_since >= 0 ? s.waiting_since : now_, fn.weight});
      fractions_.push_back(fraction);
    } else {
      s.waiting_since = -1; // nothing pending any more
    }
  }
  unplaced_now_ = 0;
  place(preq_.demands, fractions_, false);
  for (size_t d = 0; d < pres_.unplaced.size() && d < preq_.demands.size(); ++d) {
    auto& s = fs_[preq_.demands[d].function];
    s.waiting_since = pres_.unplaced[d] > 0 ? preq_.demands[d].created_s : -1.0;
  }
  // What could not be placed stays wanted until the next tick asks again.
  unplaced_integral_ += unplaced_now_ * in_window(now_, now_ + interval);

  if (o_.record_series && now_ <= o_.duration_s) {
    uint64_t queued = 0;
    uint32_t ready = 0;
    for (auto& s : fs_) {
      queued += s.queued;
      ready += static_cast<uint32_t>(s.ready.size());
    }
    series_.push_back({now_, alive_, ready, reserved_total_, queued});
  }
}

} // namespace spry::policies::lab::detail
