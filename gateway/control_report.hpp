#pragma once
// What the control plane reports: its Prometheus families (appended to the gateway's /metrics)
// and the JSON of GET /status (`spry status`), written from a plain snapshot. The control plane
// fills the snapshot under its lock (control_plane::report_locked); the writers here do no I/O
// and read nothing else, so a test can feed them any state.

#include "core/endpoint_board.hpp"
#include "core/ids.hpp"

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace spry::gateway {

/// Upper bounds (seconds) of the cold-start histogram's buckets (+Inf follows).
inline constexpr std::array<double, 11> cold_start_bounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                          0.5,   1,    2.5,   5,    10};

struct control_report {
  enum class state { starting = 0, ready = 1, retiring = 2 };

  struct instance {
    core::endpoint_id endpoint = 0;
    core::function_id function = 0;
    state st = state::starting;
    std::string node;            ///< the node it was placed on ("" if unplaced)
    uint32_t in_flight = 0;      ///< endpoint board
    double service_time_s = 0;   ///< endpoint board
    bool on_board = false;       ///< the board has its slot: the three counters below are valid
    uint64_t completions = 0, busy_ns = 0, rejected = 0;
    std::optional<double> cpu_limit_cores; ///< set once a CPU limit was applied to its process
    std::string cpu_cgroup;                ///< its group then
    std::optional<pid_t> pid;              ///< a process (absent: an actor of the gateway)
    uint32_t restarts = 0;
    std::string address;
  };

  struct function {
    std::string name;
    uint32_t min_instances = 0, max_instances = 0, desired = 0;
    double arrival_rate = 0, departure_rate = 0, service_time_s = 0;
    uint32_t in_flight = 0, queue_length = 0, unplaced = 0;
    size_t held = 0; ///< requests held at the gateway for it
    bool activator_in_path = false; ///< KPA put the activator in its path (target_burst_capacity)
    uint64_t activator_holds = 0;   ///< requests the activator held for a free slot, so far
    uint64_t scale_ups = 0, scale_downs = 0;
    double cpu_fraction = 1;
    uint64_t cold_count = 0;
    double cold_sum = 0;
    std::vector<uint64_t> cold_buckets; ///< one per cold_start_bounds entry, cumulative
    /// Execution-time histogram (not cumulative) and busy time over every instance it had.
    std::array<uint64_t, core::exec_buckets> exec{};
    uint64_t busy_ns = 0;
  };

  struct node {
    std::string name;
    std::vector<unsigned> cpus;
    double cpu_allocated = 0, memory_allocated_mib = 0, speed = 1;
    double instance_cpu_limit = 0; ///< 0: none
    std::optional<double> cpu_capacity, memory_capacity_mib; ///< absent: unbounded
  };

  std::string app, transport, cpu_limits;
  std::string load_balancer, autoscaler, placement;
  uint32_t interval_ms = 0;
  std::vector<function> functions;
  std::vector<instance> instances; ///< by endpoint
  std::vector<node> nodes;
};

/// Prometheus text: spry_function_*, spry_scaling_events_total, spry_cold_start_seconds,
/// spry_instance_*, spry_node_*.
std::string metrics_text(const control_report& r);
/// Functions (each with its instances), nodes and policies, as indented JSON.
std::string status_json(const control_report& r);

} // namespace spry::gateway
