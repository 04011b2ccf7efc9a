#include "cluster/messages.hpp"

#include <cmath>

namespace spry::cluster {

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<node_hello>("spry_node_hello");
  cfg.add_message_type<join_reply>("spry_join_reply");
  cfg.add_message_type<node_assignment>("spry_node_assignment");
  cfg.add_message_type<cluster_view>("spry_cluster_view");
  cfg.add_message_type<node_report>("spry_node_report");
}

namespace {

// Names and addresses travel into logs, /status and connect(): printable, bounded.
bool printable(const std::string& s, size_t max) {
  if (s.size() > max)
    return false;
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e)
      return false;
  return true;
}

bool finite_nonneg(double v) { return std::isfinite(v) && v >= 0; }

} // namespace

std::string validate(const node_hello& h, size_t functions) {
  if (h.name.empty() || !printable(h.name, 63))
    return "node name must be 1-63 printable characters";
  if (!printable(h.version, 32) || !printable(h.app_digest, 128))
    return "version or app digest malformed";
  if (!finite_nonneg(h.cpu_capacity) || h.cpu_capacity <= 0 || h.cpu_capacity > 4096)
    return "cpu capacity out of range (0, 4096]";
  if (!finite_nonneg(h.memory_mb) || h.memory_mb <= 0)
    return "memory capacity must be positive";
  if (!std::isfinite(h.speed) || h.speed <= 0 || h.speed > 1000)
    return "speed out of range (0, 1000]";
  if (h.data_address.empty() || !printable(h.data_address, 255) || !printable(h.http_address, 255))
    return "data or http address malformed";
  if (!h.running.empty() && h.running.size() != functions)
    return "running instances list has " + std::to_string(h.running.size()) +
           " entries, the app has " + std::to_string(functions) + " functions";
  for (auto n : h.running)
    if (n > 4096)
      return "running instance count out of range";
  return {};
}

std::string validate(const node_assignment& a, size_t functions) {
  if (a.instances.size() != functions)
    return "assignment lists " + std::to_string(a.instances.size()) + " functions, the app has " +
           std::to_string(functions);
  for (auto n : a.instances)
    if (n > 4096)
      return "assignment asks for " + std::to_string(n) + " instances (at most 4096)";
  return {};
}

std::string validate(const cluster_view& v, size_t functions) {
  if (v.nodes.size() > 4096)
    return "directory lists more than 4096 nodes";
  if (v.ready.size() != functions)
    return "directory lists " + std::to_string(v.ready.size()) + " functions, the app has " +
           std::to_string(functions);
  if (v.placed.size() != v.ready.size())
    return "directory's placement table does not match its instance table";
  for (const auto& per_node : v.placed)
    if (per_node.size() != v.nodes.size())
      return "directory's placement table has " + std::to_string(per_node.size()) +
             " columns for " + std::to_string(v.nodes.size()) + " nodes";
  for (const auto& per_node : v.ready)
    if (per_node.size() != v.nodes.size())
      return "directory's instance table has " + std::to_string(per_node.size()) +
             " columns for " + std::to_string(v.nodes.size()) + " nodes";
  for (const auto& n : v.nodes)
    if (!printable(n.name, 63) || !printable(n.data_address, 255) || !printable(n.http_address, 255))
      return "directory holds a malformed node name or address";
  return {};
}

std::string validate(const node_report& r, size_t functions) {
  const size_t n = functions;
  if (r.functions.size() != n || r.ready.size() != n || r.starting.size() != n || r.held.size() != n)
    return "report does not list the app's " + std::to_string(n) + " functions";
  if (!finite_nonneg(r.cpu_load) || !finite_nonneg(r.cold_start_seconds))
    return "report carries a negative or non-finite figure";
  for (const auto& m : r.functions)
    if (!finite_nonneg(m.arrival_rate) || !finite_nonneg(m.concurrency) ||
        !finite_nonneg(m.service_time_s))
      return "report carries a negative or non-finite function figure";
  return {};
}

} // namespace spry::cluster
