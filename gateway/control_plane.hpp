#pragma once
// The live control plane of one node: the metrics agent, the autoscaler and the placement
// engine, driving real instances.
//
// Every `policies.autoscaler.interval` it reads the endpoint board (what instances piggyback on
// every request: arrivals, completions, execution time; see core/endpoint_board.hpp) and the
// gateway's held requests into one scaling snapshot per function, asks the autoscaler actor for
// instance counts, asks the placement actor where new instances go, and starts (pinned to their
// node's CPUs) or drains and stops instances through the runtime. The same policy classes run in
// the policy lab.
//
// Scale from zero: a request for a function without instances is held by the gateway (bounded)
// and wakes this loop at once; the new instance's cold start is measured (process start to
// ready) and the held requests go out as soon as it is ready.
//
// Scale down never loses a request: the instance leaves the directory first, and is stopped only
// when every process routes without it and the board shows it holds nothing (or after the
// chain timeout, with a warning).
//
// Threads: one control thread; metrics_text()/status_json() from the HTTP threads.
//
// Sources: control_plane.cpp (the loop: events, the metrics agent, decisions),
// control_scaling.cpp (actuation: starting, placing, retiring, draining and replacing
// instances, CPU limits, hot reload), control_report.* (what /status and /metrics say).

#include "core/app_spec.hpp"
#include "core/cpu_limit.hpp"
#include "core/endpoint_board.hpp"
#include "core/ids.hpp"
#include "gateway/app_policies.hpp"
#include "gateway/concurrency_average.hpp"
#include "gateway/control_report.hpp"
#include "policies/autoscaling/autoscaler.hpp"

#include <algorithm>
#include <caf/actor.hpp>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace spry::core {
class runtime;
}

namespace spry::gateway {

class gateway;

class control_plane {
public:
  control_plane(core::runtime& rt, gateway& gw, app_policies policies);
  ~control_plane();
  control_plane(const control_plane&) = delete;
  control_plane& operator=(const control_plane&) = delete;

  /// Launch hook: places an initial instance of `f` and returns its node's CPUs.
  std::vector<unsigned> initial_cpus(core::function_id f);
  /// Launch hook: an instance became ready after `start_ns` (0: in-process).
  void on_ready(core::endpoint_id ep, uint64_t start_ns);
  /// Launch hook: an instance process died (it is restarted by the supervisor).
  void on_down(core::endpoint_id ep);
  /// Gateway hook: a request of `chain` is held for `f`, which has no instance. Whole-chain
  /// warm-up: every function of the chain without an instance starts now, not one hop at a time.
  void activate(core::function_id f, core::chain_id chain);

  /// Starts the control thread (after the initial instances are launched).
  void start();
  /// Stops the control thread; idempotent. Instances are left to the runtime.
  void stop();

  /// Hot reload: makes the function library at `path` replace the loaded one(s) whose handlers
  /// it defines (core::runtime::replace_library says when it refuses; then nothing changes),
  /// then restarts every instance on the new code: a new instance of the same function on the
  /// same node starts, and the old one is retired only once the new one is ready (in-process:
  /// at once; a process: when it reports ready, on the control thread), then stopped by the
  /// drain once it holds no request, so requests in flight finish on the old code and none is
  /// lost. Any thread (the admin path); blocks for the dlopen, not for the new processes.
  /// Returns a one-line account for the operator.
  core::expected<std::string> reload_library(const std::string& path);

  // -- cluster mode ----------------------------------------------------------------------------
  /// From now on the cluster's controller decides: this node runs targets[f] instances of each
  /// function (placed by the controller), and its own autoscaler is no longer asked. Any thread.
  void set_targets(std::vector<uint32_t> targets);
  /// What this node tells the controller: per function, the metrics of its last decision
  /// interval, instances ready and starting, and cold starts so far. Any thread.
  struct load_view {
    std::vector<policies::autoscaling::function_metrics> functions;
    std::vector<uint32_t> ready, starting;
    uint64_t cold_starts = 0;
    double cold_start_seconds = 0;
    uint64_t busy_ns = 0; ///< execution time of every instance so far (CPU spent in functions)
  };
  load_view load() const;

  /// Prometheus text of the control plane's metrics (appended to the gateway's /metrics).
  std::string metrics_text() const;
  /// Functions, instances, nodes and the last decisions, as JSON (GET /status, `spry status`).
  std::string status_json() const;

private:
  enum class inst_state { starting, ready, retiring };
  struct inst {
    core::function_id function;
    int node = -1;
    inst_state state = inst_state::starting;
    uint64_t since_ns = 0;  ///< started, or retired
    bool scaled = false;    ///< started by the autoscaler (its readiness is a cold start)
    bool replacement = false; ///< started by a hot reload to replace another instance
    /// Set by a hot reload: the instance running the new code that replaces this one; this one
    /// is retired once that one is ready (or gone), and meanwhile does not count as alive.
    core::endpoint_id replaced_by = core::no_endpoint;
    uint64_t arrivals = 0, completions = 0, busy_ns = 0; ///< board values at the last tick
    /// Board execution histogram and busy time already folded into the function's totals.
    std::array<uint64_t, core::exec_buckets> exec_seen{};
    uint64_t busy_seen = 0;
    pid_t limited_pid = 0;    ///< the process the CPU limit was last applied to
    double limited_cores = 0; ///< that limit (0: none)
  };
  struct node {
    std::string name;
    std::vector<unsigned> cpus;
    double cpu_capacity = 0;
    double memory_capacity = 0; ///< MB
    double speed = 1;
    double instance_cpu_limit = 0; ///< cores per instance process (0: none); see node_spec
  };
  struct function_stats {
    uint64_t acc_arrivals = 0, acc_completions = 0, acc_busy_ns = 0; ///< since the last decision
    // the last decision's view
    double arrival_rate = 0, departure_rate = 0, service_time_s = 0;
    uint32_t queue_length = 0, in_flight = 0, desired = 0, unplaced = 0;
    uint64_t scale_ups = 0, scale_downs = 0;
    double cpu_fraction = 1; ///< the autoscaler's last size for each instance (< 1: deflated)
    uint64_t cold_count = 0; ///< cold starts: count, sum (s), histogram buckets
    double cold_sum = 0;
    std::vector<uint64_t> cold_buckets;
    /// Execution-time histogram and busy time over every instance the function had: folded in
    /// from the board as they grow, so they keep counting up (as Prometheus counters must)
    /// after a scale-down, a crash (the board slot is cleared) or an endpoint id's reuse.
    std::array<uint64_t, core::exec_buckets> exec_total{};
    uint64_t busy_total_ns = 0;
    /// Requests in flight (and held), averaged over time since the last decision: KPA's metric.
    concurrency_average concurrency;
  };
  /// The state metrics_text()/status_json() write (gateway/control_report.hpp); under mtx_.
  control_report report_locked() const;
  /// Adds what instance `x` at `ep` counted since the last fold to its function's totals.
  void fold_exec_locked(core::endpoint_id ep, inst& x);

  void run();
  void tick(bool decide);
  /// Between ticks: samples each function's requests in flight (and held) for its time average.
  void sample_concurrency();
  /// Requests in flight on the board per function (instances_ must be current); under mtx_.
  std::vector<uint32_t> in_flight_locked() const;
  void sync_instances_locked();
  /// A new entry for `ep` starts from the board's counters as they are (a reused endpoint id
  /// keeps what its previous instance counted): only what it does from now on is folded in.
  void seed_from_board(core::endpoint_id ep, inst& x) const;
  /// Marks every instance of a function with the activator in its path on the endpoint board,
  /// and tells the gateway (live_activator_ only).
  void apply_activator_locked();
  void scale_locked(core::function_id f, uint32_t wanted);
  /// Starts what scale_locked decided (starts_) in one runtime::add_instances call, so that the
  /// instances of one tick (a chain warming up from zero) start together.
  void flush_starts_locked();
  int place_locked(core::function_id f);
  /// One node per function (one instance each; -1: none has room), in one question to the
  /// placement engine, which sees the whole set (the functions of a chain warming up).
  std::vector<int> place_each_locked(const std::vector<core::function_id>& fs);
  /// Whole-chain warm-up: starts one instance of each of `fs` (functions at zero, each with
  /// max_instances >= 1), placed together (place_each_locked), at once.
  void warm_up_locked(const std::vector<core::function_id>& fs);
  /// `unplaced` instances of `f` fit on no node: kept in its stats, warned once per change.
  void note_unplaced_locked(core::function_id f, uint32_t unplaced);
  /// Calls f(function, node) for every instance that holds room on a node: those in instances_
  /// and those placed this tick and not started yet (starts_).
  template <class F>
  void for_each_placed_locked(F&& f) const {
    for (const auto& [ep, x] : instances_)
      f(x.function, x.node);
    for (const auto& s : starts_)
      f(s.function, s.node);
  }
  /// The CPU one instance of `f` holds on its node: its size, or what deflation leaves it.
  double cpu_held_locked(core::function_id f) const {
    return app_.functions[f].cpu * std::min(1.0, stats_[f].cpu_fraction);
  }
  void drain_locked();
  /// Retires every instance a hot reload replaced whose replacement is ready (or gone).
  void supersede_locked();
  /// Applies each function's cpu_fraction (deflation) and each node's instance_cpu_limit to the
  /// instance processes: the smaller of the two is the instance's limit.
  void apply_cpu_limits_locked();
  double node_cpu_used_locked(int n) const;
  double node_memory_used_locked(int n) const;

  core::runtime& rt_;
  gateway& gw_;
  const core::app_spec& app_;
  caf::actor autoscaler_;
  caf::actor placement_;
  // Asks the two policy actors (asker_locked()): one blocking actor for the plane's life, not
  // one spawned and torn down per question, and without a timeout (caf::infinite): a policy
  // actor is local, and answers or CAF answers for it with an error when it fails; a timeout
  // cost two wake-ups of CAF's clock thread per question. Questions are asked on the path of a
  // cold start: once per decision, once per instance placed. Under mtx_.
  std::unique_ptr<caf::scoped_actor> asker_;
  caf::scoped_actor& asker_locked();
  std::string autoscaler_name_, placement_name_;
  std::vector<node> nodes_;
  std::unique_ptr<core::cpu_limiter> limiter_; // null on local (actors)
  bool warned_no_limits_ = false;

  mutable std::mutex mtx_; // what follows; never held while waiting for an event
  std::map<core::endpoint_id, inst> instances_;
  /// Instances scale_locked placed and has not started yet: while batching_ (a tick's scaling),
  /// they wait for flush_starts_locked; they count as alive and as using their node meanwhile.
  struct pending_start {
    core::function_id function;
    int node;
    uint32_t desired; ///< for the log line
  };
  std::vector<pending_start> starts_;
  bool batching_ = false;
  std::vector<std::vector<int>> initial_nodes_; // per function: nodes placed before launch
  uint32_t initial_placeholders_ = 0;
  std::vector<function_stats> stats_;
  uint64_t start_ns_ = 0, last_decision_ns_ = 0, last_tick_ns_ = 0, ticks_ = 0;
  // A decision postponed by a chain's warm-up (warm_up_decision_delay_ns): not before this; 0
  // while none is. Once per decision (set only from 0): warm-ups cannot starve decisions.
  uint64_t decide_at_ns_ = 0;
  /// When the next decision is due (control thread).
  uint64_t next_decision_ns(uint64_t interval_ns) const;

  // Events from other threads (supervisor, gateway): their own lock, so that a hook called under
  // the supervisor's or the gateway's lock never waits for the control thread.
  std::mutex events_mtx_;
  std::condition_variable cv_;
  std::vector<std::pair<core::endpoint_id, uint64_t>> ready_events_;
  uint64_t ready_since_ns_ = 0; // when the oldest of ready_events_ came (ready_record_delay_ns)
  std::vector<core::chain_id> warm_chains_; ///< chains a held request asks to warm up
  /// Per function (under mtx_): warmed up for a held request's chain; not scaled to zero before
  /// this time (the request is on its way to it; the chain's timeout bounds how long).
  std::vector<uint64_t> warm_until_ns_;
  bool wake_ = false;
  bool stopping_ = false;
  std::atomic<bool> busy_{false}; ///< draining or holding: poll faster than the interval
  /// The app set KPA's target_burst_capacity: its `via_activator` decisions apply live (the
  /// gateway holds requests for a free slot). Without it the rule stays the lab's only.
  bool live_activator_ = false;
  std::vector<char> via_activator_; ///< per function (under mtx_): the last decision's
  std::atomic<bool> slot_waits_{false}; ///< requests held for a free slot: poll every ms
  // Cluster mode (under mtx_): the controller's targets, and the last view for its reports.
  bool managed_ = false;
  std::vector<uint32_t> targets_;
  std::vector<policies::autoscaling::function_metrics> last_metrics_;
  std::vector<uint32_t> last_ready_, last_starting_;
  std::thread thread_;
};

} // namespace spry::gateway
