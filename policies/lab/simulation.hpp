#pragma once
// The simulation behind simulate() (simulator.hpp has the model): its state and event handlers.
// Internal to the lab: split over simulation_requests.cpp (the request path),
// simulation_instances.cpp (instance lifecycle, placement, the autoscaling tick) and
// simulator.cpp (the event loop and the results).

#include "core/latency_histogram.hpp"
#include "policies/lab/event_queue.hpp"
#include "policies/lab/request_fifo.hpp"
#include "policies/lab/simulator.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>

namespace spry::policies::lab::detail {

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
    // The nodes' capacities and reservations live in the placement request itself: placing an
    // instance (every tick, and at every activator poke) then copies nothing.
    preq_.nodes.resize(nodes_.size());
    for (size_t i = 0; i < nodes_.size(); ++i) {
      preq_.nodes[i].cpu_capacity = nodes_[i].cpu;
      preq_.nodes[i].memory_capacity = nodes_[i].memory_mb;
      preq_.nodes[i].speed = nodes_[i].speed;
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
  void push(double t, event_type type, uint32_t a = 0, uint32_t b = 0) {
    events_.push(t, type, a, b);
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
    request_fifo queue;
    double service_ewma = 0;
    uint32_t ready_pos = 0; ///< index in its function's `ready` (and `loads`) while ready
  };
  struct function_state {
    std::vector<uint32_t> ready;
    // Parallel to `ready`: what the balancer sees of each ready instance, kept up to date as
    // requests start and finish, and the completions of the current tick. Contiguous, so that a
    // request's dispatch reads one array instead of one scattered instance per candidate.
    std::vector<load_balancing::instance_load> loads;
    std::vector<uint32_t> completed_tick;
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
    /// The CPU fraction every ready or starting instance has, exactly, or NaN if they differ
    /// (an inflation the node could not fit): the tick's set_fraction then skips the function
    /// without visiting its instances when the autoscaler asks for the same fraction again.
    double uniform_fraction = std::numeric_limits<double>::quiet_NaN();
    uint32_t completions_tick = 0;  ///< completions by ready instances in the current tick
    bool departures_nonzero = false; ///< some loads[k].departure_rate is not 0
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
  /// Brings the balancer's view of instance `i` up to date (ready instances only).
  void sync_load(const instance& in) {
    if (in.st != state::ready)
      return;
    auto& l = fs_[in.function].loads[in.ready_pos];
    l.queue_length = in.busy + static_cast<uint32_t>(in.queue.size());
    l.service_time_s = in.service_ewma;
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
  double cluster_cpu_ = 0;
  double window_start_ = 0;

  std::unique_ptr<autoscaling::autoscaler> autoscaler_;
  std::unique_ptr<placement::placement_engine> placement_;

  event_queue events_;
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
  std::vector<double> fractions_; ///< per demand in preq_, the CPU fraction to start it with
  placement::placement_result pres_;
  std::vector<series_point> series_;
  // fairness over windows
  static constexpr double fairness_window_s = 60;
  double next_window_end_ = 0;
  std::vector<double> ratios_;
  std::vector<double> window_jain_;
};

} // namespace spry::policies::lab::detail
