#include "policies/lab/simulator.hpp"

#include "core/latency_histogram.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <queue>

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

namespace {

// Weight of the newest execution time in an instance's piggybacked average: low enough that
// exponential service times (cv 1) give a steady estimate (cv ~0.23), high enough to follow a
// deflation within a few requests.
constexpr double service_ewma_weight = 0.1;
// The same for a function's execution time as reported to the autoscaler (all its instances).
constexpr double function_ewma_weight = 0.05;

class simulation {
public:
  simulation(const std::vector<node_spec>& nodes, workload_model w, const sim_options& o)
    : o_(o), w_(std::move(w)), nodes_(nodes) {
    window_start_ = std::min(o_.warmup_s, o_.duration_s);
    next_window_end_ = window_start_ + fairness_window_s;
    fs_.resize(w_.functions.size());
    for (size_t f = 0; f < fs_.size(); ++f)
      fs_[f].service_rng = random_stream::derive(o_.seed, 0x1000000 + f);
    for (size_t s = 0; s < w_.sources.size(); ++s)
      source_rng_.push_back(random_stream::derive(o_.seed, 0x2000000 + s));
    chain_slo_.resize(w_.chains.size());
    chains_.resize(w_.chains.size());
    for (size_t c = 0; c < w_.chains.size(); ++c)
      for (uint32_t f : w_.chains[c])
        chain_slo_[c] += w_.functions[f].slo_s;
    for (auto& n : nodes_)
      cluster_cpu_ += n.cpu;
    pnodes_.resize(nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i) {
      pnodes_[i].cpu_capacity = nodes_[i].cpu;
      pnodes_[i].memory_capacity = nodes_[i].memory_mb;
      pnodes_[i].speed = nodes_[i].speed;
    }
  }

  core::status_or_error make_policies(const policy_spec& p, const policy_registries& r) {
    for (size_t f = 0; f < fs_.size(); ++f) {
      auto lb = r.load_balancers.create(p.load_balancer);
      if (!lb)
        return lb.err();
      (*lb)->reseed(random_stream::derive(o_.seed, 0x3000000 + f).next());
      fs_[f].lb = std::move(*lb);
    }
    auto as = r.autoscalers.create(p.autoscaler, p.autoscaler_params);
    if (!as)
      return as.err();
    autoscaler_ = std::move(*as);
    auto pl = r.placements.create(p.placement, p.placement_params);
    if (!pl)
      return pl.err();
    placement_ = std::move(*pl);
    placement_->reseed(random_stream::derive(o_.seed, 0x4000000).next());
    return {};
  }

  run_result run();

private:
  // -- events ----------------------------------------------------------------------------------
  enum event_type : uint8_t { ev_arrival, ev_completion, ev_ready, ev_tick };
  struct event {
    double t;
    uint64_t seq;
    uint32_t a;
    uint32_t b;
    event_type type;
  };
  struct later {
    bool operator()(const event& x, const event& y) const noexcept {
      return x.t > y.t || (x.t == y.t && x.seq > y.seq);
    }
  };
  void push(double t, event_type type, uint32_t a = 0, uint32_t b = 0) {
    events_.push(event{t, seq_++, a, b, type});
  }

  // -- model state -----------------------------------------------------------------------------
  struct request {
    double arrival;
    double hop_start;
    double work;
    uint32_t chain;
    uint16_t hop;
    bool measured;
    bool alive;
  };
  enum class state : uint8_t { starting, ready, draining, dead };
  struct instance {
    uint32_t function;
    uint32_t node;
    state st;
    bool initial;
    double cpu_fraction;
    double reserved_cpu;
    double reserved_memory;
    uint32_t busy = 0;
    std::deque<uint32_t> queue;
    double service_ewma = 0;
    uint32_t completed_tick = 0;
    double departure_rate = 0;
  };
  struct function_state {
    std::vector<uint32_t> ready;
    std::vector<uint32_t> starting;
    std::deque<uint32_t> activator;
    std::unique_ptr<load_balancing::load_balancer> lb;
    random_stream service_rng;
    // over the current tick
    uint64_t arrivals_tick = 0;
    double service_mean = 0; ///< moving average of execution times, as the autoscaler sees it
    double service_sum_all = 0;
    uint64_t service_n_all = 0;
    uint32_t in_system = 0;
    double in_system_integral = 0;
    double in_system_since = 0;
    uint32_t queued = 0;
    // over the measurement window
    uint64_t arrivals_measured = 0;
    double work_measured = 0;
    double capacity = 0; ///< reference-speed servers of the ready instances
    double capacity_integral = 0;
    double capacity_since = 0;
    double reserved_cpu = 0;
    double reserved_memory = 0;
    double waiting_since = -1; ///< when its instances that found no node were first asked for
    bool via_activator = false; ///< the autoscaler put the activator in its request path
    // over the current fairness window
    double work_window = 0;
    double capacity_window = 0;
  };

  // -- helpers ---------------------------------------------------------------------------------
  /// Length of [a, b] inside the measurement window.
  double in_window(double a, double b) const noexcept {
    return std::max(0.0, std::min(b, o_.duration_s) - std::max(a, window_start_));
  }
  /// Speed of one request slot: work is in reference core-seconds, and an instance's cores
  /// (deflated or not) are shared equally by its slots, on a node of the given speed.
  double slot_share(const instance& i) const noexcept {
    const auto& fn = w_.functions[i.function];
    const double c = std::max<uint32_t>(1, fn.concurrency);
    return i.reserved_cpu / c * nodes_[i.node].speed;
  }
  double capacity_of(const instance& i) const noexcept {
    return std::max<uint32_t>(1, w_.functions[i.function].concurrency) * slot_share(i);
  }
  void account_global() {
    const double dt = in_window(accounted_, now_);
    instance_seconds_ += alive_ * dt;
    cpu_seconds_ += reserved_total_ * dt;
    accounted_ = now_;
  }
  void account_capacity(uint32_t f) {
    auto& s = fs_[f];
    const double c = s.capacity * in_window(s.capacity_since, now_);
    s.capacity_integral += c;
    s.capacity_window += c;
    s.capacity_since = now_;
  }
  /// Closes a fairness window: Jain's index of min(1, allocated / demanded) over the functions
  /// that had demand in it.
  void close_fairness_window() {
    ratios_.clear();
    for (uint32_t f = 0; f < fs_.size(); ++f) {
      auto& s = fs_[f];
      account_capacity(f);
      if (s.work_window > 0)
        ratios_.push_back(std::min(1.0, s.capacity_window / s.work_window));
      s.work_window = 0;
      s.capacity_window = 0;
    }
    if (!ratios_.empty())
      window_jain_.push_back(jain_index(ratios_));
  }
  void change_in_system(uint32_t f, int delta) {
    auto& s = fs_[f];
    s.in_system_integral += s.in_system * (now_ - s.in_system_since);
    s.in_system_since = now_;
    s.in_system = static_cast<uint32_t>(static_cast<int>(s.in_system) + delta);
  }
  uint32_t new_request() {
    if (!free_.empty()) {
      const uint32_t r = free_.back();
      free_.pop_back();
      return r;
    }
    requests_.push_back({});
    return static_cast<uint32_t>(requests_.size() - 1);
  }

  // -- request path ----------------------------------------------------------------------------
  void on_arrival(uint32_t source);
  void enter_function(uint32_t r);
  void dispatch(uint32_t r, uint32_t f);
  void pump_activator(uint32_t f);
  void start_service(uint32_t i, uint32_t r);
  void on_completion(uint32_t i, uint32_t r);
  void finish(uint32_t r);

  // -- instance lifecycle ----------------------------------------------------------------------
  void create_instance(uint32_t f, uint32_t node, double fraction, bool initial);
  void on_ready(uint32_t i);
  void retire(uint32_t f, uint32_t count);
  void kill(uint32_t i);
  void set_fraction(uint32_t f, double fraction);
  void place(std::vector<placement::placement_demand>& demands,
             const std::vector<double>& fractions, bool initial);
  void on_tick();

  sim_options o_;
  workload_model w_;
  std::vector<node_spec> nodes_;
  std::vector<placement::node_state> pnodes_; ///< capacities and current reservations
  double cluster_cpu_ = 0;
  double window_start_ = 0;

  std::unique_ptr<autoscaling::autoscaler> autoscaler_;
  std::unique_ptr<placement::placement_engine> placement_;

  std::priority_queue<event, std::vector<event>, later> events_;
  uint64_t seq_ = 0;
  double now_ = 0;
  uint64_t processed_ = 0;

  std::vector<request> requests_;
  std::vector<uint32_t> free_;
  uint64_t in_flight_ = 0;
  std::vector<instance> instances_;
  std::vector<function_state> fs_;
  std::vector<random_stream> source_rng_;
  std::vector<double> chain_slo_;
  std::vector<chain_result> chains_;
  std::vector<load_balancing::instance_load> scratch_;
  std::vector<uint32_t> scratch_ids_;

  // accounting
  uint32_t alive_ = 0;
  double reserved_total_ = 0;
  double accounted_ = 0;
  double instance_seconds_ = 0;
  double cpu_seconds_ = 0;
  uint64_t cold_starts_ = 0;
  uint64_t activator_waits_ = 0;
  uint64_t unplaced_now_ = 0;     ///< instances the current placement round could not place
  double unplaced_integral_ = 0;  ///< instance-seconds wanted but not placed
  core::latency_histogram latency_us_;
  uint64_t measured_ = 0;
  uint64_t violations_ = 0;

  // per tick scratch
  autoscaling::scaling_snapshot snapshot_;
  std::vector<autoscaling::scaling_decision> decisions_;
  placement::placement_request preq_;
  placement::placement_result pres_;
  std::vector<series_point> series_;
  // fairness over windows
  static constexpr double fairness_window_s = 60;
  double next_window_end_ = 0;
  std::vector<double> ratios_;
  std::vector<double> window_jain_;
};

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
    push(next, ev_arrival, s);
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
      place(preq_.demands, {1.0}, false);
    }
    pump_activator(f);
    return;
  }
  scratch_.clear();
  for (uint32_t i : s.ready) {
    const auto& in = instances_[i];
    load_balancing::instance_load l;
    l.endpoint = i;
    l.queue_length = in.busy + static_cast<uint32_t>(in.queue.size());
    l.service_time_s = in.service_ewma;
    l.departure_rate = in.departure_rate;
    l.concurrency = std::max<uint32_t>(1, w_.functions[f].concurrency);
    scratch_.push_back(l);
  }
  const uint32_t i = s.ready[s.lb->pick(scratch_.data(), scratch_.size()) % scratch_.size()];
  auto& in = instances_[i];
  if (in.busy < std::max<uint32_t>(1, w_.functions[f].concurrency)) {
    start_service(i, r);
  } else {
    in.queue.push_back(r);
    s.queued++;
  }
}

void simulation::pump_activator(uint32_t f) {
  auto& s = fs_[f];
  const uint32_t c = std::max<uint32_t>(1, w_.functions[f].concurrency);
  while (!s.activator.empty()) {
    // Only instances with a free slot take requests from the activator; the balancer chooses
    // among those (Knative's activator is capacity-aware in the same way).
    scratch_.clear();
    scratch_ids_.clear();
    for (uint32_t i : s.ready) {
      const auto& in = instances_[i];
      if (in.busy < c && in.queue.empty()) {
        load_balancing::instance_load l;
        l.endpoint = i;
        l.queue_length = in.busy;
        l.service_time_s = in.service_ewma;
        l.departure_rate = in.departure_rate;
        l.concurrency = c;
        scratch_.push_back(l);
        scratch_ids_.push_back(i);
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
  auto& q = requests_[r];
  q.hop_start = now_;
  push(now_ + q.work / std::max(1e-9, slot_share(in)), ev_completion, i, r);
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
  in.completed_tick++;
  // The metrics agent's execution time: a moving average over recent completions (a per-tick
  // mean would swing wildly at the tail of a burst, when a tick sees one or two completions).
  s.service_mean = s.service_mean > 0 ? (1 - function_ewma_weight) * s.service_mean +
                                          function_ewma_weight * took
                                      : took;
  s.service_sum_all += took;
  s.service_n_all++;
  change_in_system(f, -1);
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
  pnodes_[node].cpu_used += in.reserved_cpu;
  pnodes_[node].memory_used += in.reserved_memory;
  reserved_total_ += in.reserved_cpu;
  fs_[f].reserved_cpu += in.reserved_cpu;
  fs_[f].reserved_memory += in.reserved_memory;
  alive_++;
  const uint32_t id = static_cast<uint32_t>(instances_.size());
  instances_.push_back(std::move(in));
  fs_[f].starting.push_back(id);
  if (initial) {
    on_ready(id);
  } else {
    cold_starts_ += now_ >= window_start_ && now_ <= o_.duration_s;
    push(now_ + fn.cold_start_s, ev_ready, id);
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
  s.ready.push_back(i);
  account_capacity(f);
  s.capacity += capacity_of(in);
  pump_activator(f);
}

void simulation::kill(uint32_t i) {
  auto& in = instances_[i];
  account_global();
  auto& s = fs_[in.function];
  pnodes_[in.node].cpu_used -= in.reserved_cpu;
  pnodes_[in.node].memory_used -= in.reserved_memory;
  reserved_total_ -= in.reserved_cpu;
  s.reserved_cpu -= in.reserved_cpu;
  s.reserved_memory -= in.reserved_memory;
  alive_--;
  in.st = state::dead;
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
    auto load = [&](uint32_t id) { return instances_[id].busy + instances_[id].queue.size(); };
    for (size_t k = s.ready.size(); k-- > 0;)
      if (load(s.ready[k]) < load(s.ready[pick]))
        pick = k;
    const uint32_t i = s.ready[pick];
    s.ready.erase(s.ready.begin() + static_cast<std::ptrdiff_t>(pick));
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
  const auto& fn = w_.functions[f];
  auto resize = [&](uint32_t i, bool ready) {
    auto& in = instances_[i];
    if (std::fabs(in.cpu_fraction - fraction) < 1e-9)
      return;
    double want = fn.cpu * fraction;
    auto& node = pnodes_[in.node];
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
  };
  for (uint32_t i : s.ready)
    resize(i, true);
  for (uint32_t i : s.starting)
    resize(i, false);
}

void simulation::place(std::vector<placement::placement_demand>& demands,
                       const std::vector<double>& fractions, bool initial) {
  if (demands.empty())
    return;
  preq_.nodes = pnodes_;
  if (&preq_.demands != &demands)
    preq_.demands = demands;
  placement_->place(preq_, pres_);
  for (const auto& a : pres_.assignments) {
    const auto& d = preq_.demands[a.demand];
    if (a.node >= pnodes_.size() || !pnodes_[a.node].fits(d.cpu, d.memory))
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
  for (const auto& n : pnodes_) {
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
    for (uint32_t i : s.ready) {
      auto& in = instances_[i];
      in.departure_rate = in.completed_tick / interval;
      in.completed_tick = 0;
    }
  }
  autoscaler_->decide(snapshot_, decisions_);

  preq_.demands.clear();
  std::vector<double> fractions;
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
      fractions.push_back(fraction);
    } else {
      s.waiting_since = -1; // nothing pending any more
    }
  }
  unplaced_now_ = 0;
  place(preq_.demands, fractions, false);
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
      push(t, ev_arrival, s);
  }
  push(o_.tick_s, ev_tick);
  const double hard_end = o_.duration_s + o_.drain_limit_s;
  while (!events_.empty()) {
    const event e = events_.top();
    if (e.t > hard_end)
      break;
    events_.pop();
    now_ = e.t;
    ++processed_;
    switch (e.type) {
      case ev_arrival:
        on_arrival(e.a);
        break;
      case ev_completion:
        on_completion(e.a, e.b);
        break;
      case ev_ready:
        on_ready(e.a);
        break;
      case ev_tick:
        on_tick();
        // Ticks go on while there is anything left to do; past the end, only to drain.
        if (now_ + o_.tick_s <= o_.duration_s || in_flight_ > 0)
          push(now_ + o_.tick_s, ev_tick);
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
    out.functions.push_back(std::move(r));
  }
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

} // namespace

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
  simulation sim(nodes, std::move(workload), options);
  if (auto ok = sim.make_policies(policy, registries); !ok)
    return ok.err();
  return sim.run();
}

} // namespace spry::policies::lab
