#include "policies/lab/simulator.hpp"

#include "policies/lab/simulation.hpp"

#include <algorithm>
#include <cmath>

namespace spry::policies::lab {

void register_all(policy_registries& r) {
  load_balancing::register_all(r.load_balancers);
  autoscaling::register_all(r.autoscalers);
  placement::register_all(r.placements);
}

double jain_index(const std::vector<double>& x) {
  double s = 0, s2 = 0;
  for (double v : x) {
    s += v;
    s2 += v * v;
  }
  if (x.empty() || s2 <= 0)
    return x.empty() ? 1.0 : 0.0;
  return s * s / (static_cast<double>(x.size()) * s2);
}

} // namespace spry::policies::lab

namespace spry::policies::lab::detail {

// -- the event loop and the results --------------------------------------------------------------

run_result simulation::run() {
  // Warm instances first, placed like any other.
  preq_.demands.clear();
  std::vector<double> fractions;
  for (uint32_t f = 0; f < w_.functions.size(); ++f) {
    const auto& fn = w_.functions[f];
    if (fn.initial_instances > 0) {
      preq_.demands.push_back(
        placement::placement_demand{f, fn.initial_instances, fn.cpu, fn.memory_mb, 0, 0, 0, fn.weight});
      fractions.push_back(1.0);
    }
  }
  place(preq_.demands, fractions, true);

  for (uint32_t s = 0; s < w_.sources.size(); ++s) {
    const double t = w_.sources[s].process->next(0, source_rng_[s]);
    if (t <= o_.duration_s)
      push(t, event_type::arrival, s);
  }
  push(o_.tick_s, event_type::tick);
  const double hard_end = o_.duration_s + o_.drain_limit_s;
  while (!events_.empty()) {
    const event e = events_.top();
    if (e.t > hard_end)
      break;
    events_.pop();
    now_ = e.t;
    ++processed_;
    switch (e.type) {
      case event_type::arrival:
        on_arrival(e.a);
        break;
      case event_type::completion:
        on_completion(e.a, e.b);
        break;
      case event_type::ready:
        on_ready(e.a);
        break;
      case event_type::tick:
        on_tick();
        // Ticks go on while there is anything left to do; past the end, only to drain.
        if (now_ + o_.tick_s <= o_.duration_s || in_flight_ > 0)
          push(now_ + o_.tick_s, event_type::tick);
        break;
    }
    if (now_ > o_.duration_s && in_flight_ == 0)
      break;
  }
  now_ = std::max(now_, o_.duration_s);
  account_global();

  run_result out;
  // Requests that never finished count at their age so far, as SLO violations.
  uint64_t unfinished = 0;
  for (auto& q : requests_) {
    if (!q.alive || !q.measured)
      continue;
    latency_us_.record(static_cast<uint64_t>((now_ - q.arrival) * 1e6 + 0.5));
    ++unfinished;
    chains_[q.chain].requests++;
    chains_[q.chain].slo_violations++;
  }
  out.requests = measured_ + unfinished;
  out.unfinished = unfinished;
  out.slo_violations = violations_ + unfinished;
  out.slo_violation_rate =
    out.requests ? static_cast<double>(out.slo_violations) / static_cast<double>(out.requests) : 0;
  out.mean_ms = latency_us_.mean() / 1e3;
  out.p50_ms = latency_us_.percentile(0.50) / 1e3;
  out.p95_ms = latency_us_.percentile(0.95) / 1e3;
  out.p99_ms = latency_us_.percentile(0.99) / 1e3;
  out.max_ms = latency_us_.max() / 1e3;
  const double window = std::max(1e-9, o_.duration_s - window_start_);
  out.instance_seconds = instance_seconds_;
  out.cpu_seconds = cpu_seconds_;
  out.mean_instances = instance_seconds_ / window;
  out.cold_starts = cold_starts_;
  out.activator_waits = activator_waits_;
  out.unplaced = unplaced_integral_ / window;
  out.events = processed_;
  out.end_time_s = now_;
  if (latency_us_.count() > 0) {
    // The CDF at the histogram's resolution: fine steps in the body, finer in the tail.
    for (int k = 1; k <= 100; ++k) {
      const double q = k < 90 ? k / 100.0 : 0.9 + (k - 90) * 0.01;
      out.latency_cdf.emplace_back(latency_us_.percentile(std::min(q, 1.0)) / 1e3, std::min(q, 1.0));
    }
    for (double q : {0.995, 0.999, 0.9999})
      out.latency_cdf.emplace_back(latency_us_.percentile(q) / 1e3, q);
    std::sort(out.latency_cdf.begin(), out.latency_cdf.end(),
              [](auto& a, auto& b) { return a.second < b.second; });
  }
  out.series = std::move(series_);
  std::vector<double> rates;
  for (const auto& c : chains_)
    if (c.requests > 0)
      rates.push_back(static_cast<double>(c.slo_violations) / static_cast<double>(c.requests));
  if (!rates.empty()) {
    std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
    out.median_chain_slo_violation_rate = rates[rates.size() / 2];
  }
  out.chains = chains_;
  std::vector<double> ratios;
  double offered = 0;
  for (uint32_t f = 0; f < fs_.size(); ++f) {
    auto& s = fs_[f];
    account_capacity(f);
    function_result r;
    r.name = w_.functions[f].name;
    r.arrivals = s.arrivals_measured;
    r.demand = s.work_measured / window;
    r.allocation = s.capacity_integral / window;
    r.mean_service_ms =
      s.service_n_all ? s.service_sum_all / static_cast<double>(s.service_n_all) * 1e3 : 0.0;
    if (r.demand > 0)
      ratios.push_back(std::min(1.0, r.allocation / r.demand));
    offered += r.demand;
    out.functions.push_back(std::move(r));
  }
  double capacity = 0;
  for (const auto& n : nodes_)
    capacity += n.cpu * n.speed;
  out.offered_load = capacity > 0 ? offered / capacity : 0;
  // Fairness is judged window by window: over a whole run a function starved during every
  // overload and idle otherwise still looks served on average.
  if (o_.duration_s - (next_window_end_ - fairness_window_s) >= fairness_window_s / 2)
    close_fairness_window(); // the last window, if at least half of one
  double jain_sum = 0;
  for (double j : window_jain_)
    jain_sum += j;
  out.jain_fairness = window_jain_.empty() ? (ratios.empty() ? 1.0 : jain_index(ratios))
                                           : jain_sum / static_cast<double>(window_jain_.size());
  return out;
}

} // namespace spry::policies::lab::detail

namespace spry::policies::lab {

core::expected<run_result> simulate(const std::vector<node_spec>& nodes, workload_model workload,
                                    const policy_spec& policy, const policy_registries& registries,
                                    const sim_options& options) {
  if (nodes.empty())
    return core::make_error("the cluster has no nodes");
  if (options.tick_s <= 0 || options.duration_s <= 0)
    return core::make_error("duration_s and tick_s must be positive");
  for (const auto& src : workload.sources)
    if (!src.process)
      return core::make_error("workload '" + workload.name + "' has a source without arrivals");
  detail::simulation sim(nodes, std::move(workload), options);
  if (auto ok = sim.make_policies(policy, registries); !ok)
    return ok.err();
  return sim.run();
}

} // namespace spry::policies::lab
