#include "gateway/control_report.hpp"

#include "gateway/metrics.hpp"

#include <nlohmann/json.hpp>

#include <sstream>

namespace spry::gateway {

namespace {

const char* const state_names[] = {"starting", "ready", "retiring"};

} // namespace

std::string metrics_text(const control_report& r) {
  std::ostringstream o;
  auto family = [&](const char* name, const char* type, const char* help) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  const auto& fns = r.functions;
  std::vector<std::array<uint32_t, 3>> counts(fns.size(), {0, 0, 0});
  for (const auto& x : r.instances)
    if (x.function < fns.size())
      counts[x.function][static_cast<size_t>(x.st)]++;
  family("spry_function_instances", "gauge", "Instances per function and state");
  for (size_t f = 0; f < fns.size(); ++f) {
    const auto fn = prometheus_label(fns[f].name);
    for (size_t s = 0; s < 3; ++s)
      o << "spry_function_instances{function=\"" << fn << "\",state=\"" << state_names[s]
        << "\"} " << counts[f][s] << '\n';
  }
  auto per_function = [&](const char* name, const char* type, const char* help, auto value) {
    family(name, type, help);
    for (const auto& f : fns)
      o << name << "{function=\"" << prometheus_label(f.name) << "\"} " << value(f) << '\n';
  };
  using fn_t = control_report::function;
  per_function("spry_function_desired_instances", "gauge",
               "Instances the autoscaler asked for at its last decision",
               [](const fn_t& f) { return f.desired; });
  per_function("spry_function_arrival_rate", "gauge",
               "Requests per second that reached the function's instances in the last interval",
               [](const fn_t& f) { return f.arrival_rate; });
  per_function("spry_function_in_flight", "gauge",
               "Requests queued or running at the function's instances, plus held ones",
               [](const fn_t& f) { return f.in_flight; });
  per_function("spry_function_queue_length", "gauge",
               "Requests waiting beyond the instances' concurrency, plus held ones",
               [](const fn_t& f) { return f.queue_length; });
  per_function("spry_function_service_seconds", "gauge",
               "Mean execution time of the function's recent requests",
               [](const fn_t& f) { return f.service_time_s; });
  per_function("spry_function_held_requests", "gauge",
               "Requests held at the gateway until the function has an instance or, with the "
               "activator in its path, a free slot",
               [](const fn_t& f) { return f.held; });
  per_function("spry_function_activator_in_path", "gauge",
               "1 while KPA puts the activator in the function's path (target_burst_capacity)",
               [](const fn_t& f) { return f.activator_in_path ? 1 : 0; });
  per_function("spry_function_activator_holds_total", "counter",
               "Requests the activator held for a free slot of the function's instances",
               [](const fn_t& f) { return static_cast<double>(f.activator_holds); });
  per_function("spry_function_cpu_fraction", "gauge",
               "Each instance's CPU as a fraction of its size (below 1: deflated)",
               [](const fn_t& f) { return f.cpu_fraction; });
  per_function("spry_function_unplaced_instances", "gauge",
               "Instances wanted that fit on no node at the last attempt",
               [](const fn_t& f) { return f.unplaced; });
  per_function("spry_function_departure_rate", "gauge",
               "Requests per second the function's instances finished in the last interval",
               [](const fn_t& f) { return f.departure_rate; });
  // Per-function execution time over every instance it had, so the histogram only counts up.
  family("spry_function_execution_seconds", "histogram",
         "Execution time of the function on all its instances (endpoint board)");
  for (const auto& f : fns) {
    uint64_t n = 0;
    const auto fn = prometheus_label(f.name);
    for (size_t b = 0; b + 1 < core::exec_buckets; ++b) {
      n += f.exec[b];
      o << "spry_function_execution_seconds_bucket{function=\"" << fn << "\",le=\""
        << core::exec_bucket_bounds_ns[b] / 1e9 << "\"} " << n << '\n';
    }
    n += f.exec[core::exec_buckets - 1];
    o << "spry_function_execution_seconds_bucket{function=\"" << fn << "\",le=\"+Inf\"} " << n << '\n';
    o << "spry_function_execution_seconds_sum{function=\"" << fn << "\"} " << f.busy_ns / 1e9 << '\n';
    o << "spry_function_execution_seconds_count{function=\"" << fn << "\"} " << n << '\n';
  }
  family("spry_scaling_events_total", "counter", "Instances started or retired by the autoscaler");
  for (const auto& f : fns) {
    const auto fn = prometheus_label(f.name);
    o << "spry_scaling_events_total{function=\"" << fn << "\",direction=\"up\"} " << f.scale_ups
      << '\n';
    o << "spry_scaling_events_total{function=\"" << fn << "\",direction=\"down\"} "
      << f.scale_downs << '\n';
  }
  family("spry_cold_start_seconds", "histogram",
         "From the decision to start an instance until it is ready to serve");
  for (const auto& f : fns) {
    const auto fn = prometheus_label(f.name);
    for (size_t b = 0; b < cold_start_bounds.size(); ++b)
      o << "spry_cold_start_seconds_bucket{function=\"" << fn << "\",le=\"" << cold_start_bounds[b]
        << "\"} " << (b < f.cold_buckets.size() ? f.cold_buckets[b] : 0) << '\n';
    o << "spry_cold_start_seconds_bucket{function=\"" << fn << "\",le=\"+Inf\"} " << f.cold_count
      << '\n';
    o << "spry_cold_start_seconds_sum{function=\"" << fn << "\"} " << f.cold_sum << '\n';
    o << "spry_cold_start_seconds_count{function=\"" << fn << "\"} " << f.cold_count << '\n';
  }
  const std::string transport = prometheus_label(r.transport);
  auto labels = [&](const control_report::instance& x) {
    return "{function=\"" +
           prometheus_label(x.function < fns.size() ? fns[x.function].name : std::string()) +
           "\",instance=\"" + std::to_string(x.endpoint) + "\",transport=\"" + transport + "\"} ";
  };
  family("spry_instance_in_flight", "gauge",
         "Requests sent to the instance and not finished by it (endpoint board)");
  for (const auto& x : r.instances)
    o << "spry_instance_in_flight" << labels(x) << x.in_flight << '\n';
  family("spry_instance_completed_total", "counter", "Requests the instance finished");
  for (const auto& x : r.instances)
    if (x.on_board)
      o << "spry_instance_completed_total" << labels(x) << x.completions << '\n';
  family("spry_instance_busy_seconds_total", "counter", "Time the instance spent running its function");
  for (const auto& x : r.instances)
    if (x.on_board)
      o << "spry_instance_busy_seconds_total" << labels(x) << x.busy_ns / 1e9 << '\n';
  family("spry_instance_rejected_descriptors_total", "counter",
         "Descriptors the instance refused on validation (forged, stale or out of range)");
  for (const auto& x : r.instances)
    if (x.on_board)
      o << "spry_instance_rejected_descriptors_total" << labels(x) << x.rejected << '\n';
  family("spry_node_cpu_allocated", "gauge",
         "Cores allocated to instances placed on the node (deflated instances: what their limit allows)");
  for (const auto& n : r.nodes)
    o << "spry_node_cpu_allocated{node=\"" << prometheus_label(n.name) << "\"} " << n.cpu_allocated
      << '\n';
  family("spry_node_memory_allocated_bytes", "gauge", "Memory budgeted to instances on the node");
  for (const auto& n : r.nodes)
    o << "spry_node_memory_allocated_bytes{node=\"" << prometheus_label(n.name) << "\"} "
      << static_cast<uint64_t>(n.memory_allocated_mib * 1048576.0) << '\n';
  return o.str();
}

std::string status_json(const control_report& r) {
  nlohmann::json j;
  j["app"] = r.app;
  j["transport"] = r.transport;
  j["cpu_limits"] = r.cpu_limits;
  j["policies"] = {{"load_balancer", r.load_balancer},
                   {"autoscaler", r.autoscaler},
                   {"placement", r.placement},
                   {"interval_ms", r.interval_ms}};
  for (size_t f = 0; f < r.functions.size(); ++f) {
    const auto& st = r.functions[f];
    nlohmann::json fj{{"name", st.name},
                      {"min_instances", st.min_instances},
                      {"max_instances", st.max_instances},
                      {"desired_instances", st.desired},
                      {"arrival_rate", st.arrival_rate},
                      {"in_flight", st.in_flight},
                      {"service_time_s", st.service_time_s},
                      {"held_requests", st.held},
                      {"unplaced_instances", st.unplaced},
                      {"cold_starts", st.cold_count},
                      {"cpu_fraction", st.cpu_fraction},
                      {"cold_start_mean_s", st.cold_count ? st.cold_sum / st.cold_count : 0.0},
                      {"instances", nlohmann::json::array()}};
    for (const auto& x : r.instances) {
      if (x.function != f)
        continue;
      nlohmann::json ij{{"endpoint", x.endpoint},
                        {"state", state_names[static_cast<size_t>(x.st)]},
                        {"node", x.node},
                        {"in_flight", x.in_flight},
                        {"service_time_s", x.service_time_s}};
      if (x.cpu_limit_cores) {
        ij["cpu_limit_cores"] = *x.cpu_limit_cores;
        ij["cpu_cgroup"] = x.cpu_cgroup;
      }
      if (x.pid) {
        ij["pid"] = *x.pid;
        ij["restarts"] = x.restarts;
        ij["address"] = x.address;
      }
      fj["instances"].push_back(ij);
    }
    j["functions"].push_back(fj);
  }
  for (const auto& n : r.nodes) {
    nlohmann::json nj{{"name", n.name},
                      {"cpus", n.cpus},
                      {"cpu_allocated", n.cpu_allocated},
                      {"memory_allocated_mib", n.memory_allocated_mib},
                      {"speed", n.speed}};
    if (n.instance_cpu_limit > 0)
      nj["instance_cpu_limit"] = n.instance_cpu_limit;
    if (n.cpu_capacity)
      nj["cpu_capacity"] = *n.cpu_capacity;
    if (n.memory_capacity_mib)
      nj["memory_capacity_mib"] = *n.memory_capacity_mib;
    j["nodes"].push_back(nj);
  }
  return j.dump(2) + "\n";
}

} // namespace spry::gateway
