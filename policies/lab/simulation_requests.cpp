#include "policies/lab/simulation.hpp"

namespace spry::policies::lab::detail {

// -- request path ------------------------------------------------------------------------------

void simulation::on_arrival(uint32_t s) {
  auto& src = w_.sources[s];
  auto& rng = source_rng_[s];
  const uint32_t r = new_request();
  uint32_t chain = src.chains.empty() ? 0 : src.chains[0];
  if (src.chains.size() > 1) {
    const double u = rng.uniform() * src.chain_cdf.back();
    const size_t k = static_cast<size_t>(
      std::upper_bound(src.chain_cdf.begin(), src.chain_cdf.end(), u) - src.chain_cdf.begin());
    chain = src.chains[std::min(k, src.chains.size() - 1)];
  }
  requests_[r] = request{now_, now_, 0, chain, 0, now_ >= window_start_, true};
  ++in_flight_;
  const double next = src.process->next(now_, rng);
  if (next <= o_.duration_s)
    push(next, event_type::arrival, s);
  enter_function(r);
}

void simulation::enter_function(uint32_t r) {
  auto& q = requests_[r];
  const uint32_t f = w_.chains[q.chain][q.hop];
  auto& s = fs_[f];
  q.work = w_.functions[f].service.sample(s.service_rng);
  s.arrivals_tick++;
  if (q.measured) {
    s.arrivals_measured++;
    s.work_measured += q.work;
    s.work_window += q.work;
  }
  change_in_system(f, +1);
  dispatch(r, f);
}

void simulation::dispatch(uint32_t r, uint32_t f) {
  auto& s = fs_[f];
  if (s.via_activator && !s.ready.empty() && s.activator.empty()) {
    // Knative's activator in the path (target burst capacity exceeded): it hands the request
    // to an instance with a free slot, or holds it until one has one.
    s.activator.push_back(r);
    s.queued++;
    pump_activator(f);
    activator_waits_ += requests_[r].measured && !s.activator.empty();
    return;
  }
  if (s.ready.empty() || !s.activator.empty()) {
    // No instance, or requests already waiting at the activator: keep arrival order.
    s.activator.push_back(r);
    s.queued++;
    activator_waits_ += requests_[r].measured;
    if (s.ready.empty() && s.starting.empty()) {
      // The activator pokes the autoscaler: one instance now, not at the next tick.
      preq_.demands.assign(1, placement::placement_demand{
                                f, 1, w_.functions[f].cpu, w_.functions[f].memory_mb,
                                s.reserved_cpu, s.reserved_memory, now_, w_.functions[f].weight});
      fractions_.assign(1, 1.0);
      place(preq_.demands, fractions_, false);
    }
    pump_activator(f);
    return;
  }
  const uint32_t i = s.ready[s.lb->pick(s.loads.data(), s.loads.size()) % s.loads.size()];
  auto& in = instances_[i];
  if (in.busy < std::max<uint32_t>(1, w_.functions[f].concurrency)) {
    start_service(i, r);
  } else {
    in.queue.push_back(r);
    s.queued++;
    sync_load(in);
  }
}

void simulation::pump_activator(uint32_t f) {
  auto& s = fs_[f];
  const uint32_t c = std::max<uint32_t>(1, w_.functions[f].concurrency);
  while (!s.activator.empty()) {
    // Only instances with a free slot take requests from the activator; the balancer chooses
    // among those (Knative's activator is capacity-aware in the same way).
    // An instance queues only when all its slots are busy, so a free slot with an empty queue
    // is a queue_length (busy + queued) below the concurrency.
    scratch_.clear();
    scratch_ids_.clear();
    for (size_t k = 0; k < s.loads.size(); ++k) {
      if (s.loads[k].queue_length < c) {
        scratch_.push_back(s.loads[k]);
        scratch_ids_.push_back(s.ready[k]);
      }
    }
    if (scratch_.empty())
      return;
    const uint32_t i = scratch_ids_[s.lb->pick(scratch_.data(), scratch_.size()) % scratch_.size()];
    const uint32_t r = s.activator.front();
    s.activator.pop_front();
    s.queued--;
    start_service(i, r);
  }
}

void simulation::start_service(uint32_t i, uint32_t r) {
  auto& in = instances_[i];
  in.busy++;
  sync_load(in);
  auto& q = requests_[r];
  q.hop_start = now_;
  push(now_ + q.work / std::max(1e-9, slot_share(in)), event_type::completion, i, r);
}

void simulation::on_completion(uint32_t i, uint32_t r) {
  auto& in = instances_[i];
  const uint32_t f = in.function;
  auto& s = fs_[f];
  in.busy--;
  const double took = now_ - requests_[r].hop_start;
  // The metrics an instance piggybacks on its response (Mu): its execution time.
  in.service_ewma = in.service_ewma > 0
                      ? (1 - service_ewma_weight) * in.service_ewma + service_ewma_weight * took
                      : took;
  if (in.st == state::ready) {
    s.completed_tick[in.ready_pos]++;
    s.completions_tick++;
  }
  // The metrics agent's execution time: a moving average over recent completions (a per-tick
  // mean would swing wildly at the tail of a burst, when a tick sees one or two completions).
  s.service_mean = s.service_mean > 0 ? (1 - function_ewma_weight) * s.service_mean +
                                          function_ewma_weight * took
                                      : took;
  s.service_sum_all += took;
  s.service_n_all++;
  change_in_system(f, -1);
  sync_load(in);
  if (!in.queue.empty()) {
    const uint32_t next = in.queue.front();
    in.queue.pop_front();
    s.queued--;
    start_service(i, next);
  } else if (in.st == state::draining && in.busy == 0) {
    kill(i);
  } else if (in.st == state::ready && !s.activator.empty()) {
    pump_activator(f);
  }

  auto& q = requests_[r];
  if (++q.hop < w_.chains[q.chain].size())
    enter_function(r);
  else
    finish(r);
}

void simulation::finish(uint32_t r) {
  auto& q = requests_[r];
  if (q.measured) {
    const double latency = now_ - q.arrival;
    latency_us_.record(static_cast<uint64_t>(latency * 1e6 + 0.5));
    measured_++;
    chains_[q.chain].requests++;
    if (latency > chain_slo_[q.chain]) {
      violations_++;
      chains_[q.chain].slo_violations++;
    }
  }
  q.alive = false;
  --in_flight_;
  free_.push_back(r);
}

} // namespace spry::policies::lab::detail
