#include "core/app_rules.hpp"

#include <algorithm>
#include <iterator>
#include <sstream>

namespace spry::core::rules {

namespace {

// Numbers as an ostream prints them by default (0.5, 1e+06).
std::string fmt(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

} // namespace

std::string at_most(uint64_t v, uint64_t max, const std::string& path) {
  if (v <= max)
    return {};
  return path + ": " + std::to_string(v) + " is too large (at most " + std::to_string(max) + ")";
}

std::string size_at_most(uint64_t bytes, uint64_t max, const std::string& path) {
  if (bytes <= max)
    return {};
  return path + ": " + std::to_string(bytes) + " is too large (at most " + std::to_string(max) +
         " bytes)";
}

std::string duration(uint32_t ms, const std::string& path) {
  return ms == 0 ? path + ": duration must be between 1ms and ~49 days" : std::string();
}

std::string io_threads(unsigned n, const std::string& path) {
  return n == 0 ? path + ": must be at least 1" : std::string();
}

std::string http_method(const std::string& method, const std::string& path) {
  static const char* methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  if (std::any_of(std::begin(methods), std::end(methods),
                  [&](const char* m) { return method == m; }))
    return {};
  return path + ": expected GET, POST, PUT, PATCH or DELETE, got '" + method + "'";
}

std::string http_path(const std::string& p, const std::string& path) {
  return p.empty() || p[0] != '/' ? path + ": must start with '/'" : std::string();
}

std::string pool_buffers(uint32_t n, const std::string& path) {
  return n == 0 ? path + ": must be at least 1" : std::string();
}

std::string pool_buffer_size(uint32_t n, const std::string& path) {
  return n == 0 ? path + ": must be at least 1 byte" : std::string();
}

std::string in_range(double v, double lo, double hi, const std::string& path) {
  if (v >= lo && v <= hi)
    return {};
  return outside(fmt(v), lo, hi, path);
}

std::string outside(const std::string& value, double lo, double hi, const std::string& path) {
  return path + ": " + value + " is outside [" + fmt(lo) + ", " + fmt(hi) + "]";
}

std::string instance_cpu_limit(double cores, const std::string& path) {
  return cores == 0 ? std::string() : in_range(cores, 0.01, 1024, path);
}

std::string instances_start(const std::string& start, const std::string& path) {
  if (start == "exec" || start == "fork")
    return {};
  return path + ": expected 'exec' or 'fork', got '" + start + "'";
}

std::string mqtt_broker(const std::string& broker, const std::string& path) {
  if (broker.rfind("tcp://", 0) == 0 || broker.rfind("mqtt://", 0) == 0)
    return {};
  return path + ": expected tcp://HOST:PORT, got '" + broker + "'";
}

std::string mqtt_client_id(const std::string& id, const std::string& path) {
  if (!id.empty() && id.size() <= 65535)
    return {};
  return path + ": must be 1 to 65535 bytes (leave it out for spry-APP)";
}

std::string mqtt_share_group(const std::string& group, const std::string& path) {
  if (!group.empty() && group.find_first_of("/+#") == std::string::npos)
    return {};
  return path + ": must be a non-empty name without '/', '+' or '#'";
}

std::string mqtt_reconnect(uint32_t min_ms, uint32_t max_ms, const std::string& path) {
  return max_ms < min_ms ? path + ": reconnect_max must be at least reconnect_min" : std::string();
}

std::string mqtt_max_message_size(uint32_t bytes, const std::string& path) {
  return bytes == 0 ? path + ": must be at least 1 byte" : std::string();
}

std::string mqtt_qos(int qos, const std::string& path) {
  if (qos == 0 || qos == 1)
    return {};
  if (qos == 2)
    return path + ": QoS 2 is not supported (use 0 or 1)";
  return path + ": expected 0 or 1, got " + std::to_string(qos);
}

std::string mqtt_filter(const std::string& filter, const std::string& path) {
  if (filter.empty())
    return path + ": must not be empty";
  const auto hash = filter.find('#');
  if (hash != std::string::npos &&
      (hash + 1 != filter.size() || (hash > 0 && filter[hash - 1] != '/')))
    return path + ": '#' must be the last level of the filter ('a/#')";
  return {};
}

std::string mqtt_content_mode(const std::string& mode, const std::string& adapter, int protocol,
                              const std::string& path) {
  if (mode.empty())
    return {};
  // The CloudEvents MQTT binding 1.0.2 (section 3.1): binary mode puts the attributes into
  // MQTT 5 user properties and the Content Type property; MQTT 3.1.1 has neither, so there
  // only structured mode exists.
  if (mode == "binary" && protocol != 5)
    return path + ": binary CloudEvents over MQTT need MQTT 5 (the attributes travel as user "
                  "properties, which MQTT 3.1.1 lacks): set mqtt.protocol: 5 (the broker must "
                  "speak MQTT 5; mosquitto 2 does), or use content_mode: structured (the event "
                  "as JSON in the payload) or leave it out";
  if (mode != "structured" && mode != "binary")
    return path + ": expected structured or binary, got '" + mode + "'";
  if (adapter.empty())
    return path + ": needs an adapter that speaks CloudEvents (adapter: cloudevents)";
  return {};
}

} // namespace spry::core::rules

namespace spry::core {

namespace {

// The first problem of a list of rule results, at `where`.
status_or_error first(const source_location& where, std::initializer_list<std::string> problems) {
  for (const auto& p : problems)
    if (!p.empty())
      return make_error(where.prefix() + p);
  return {};
}

} // namespace

status_or_error validate(const app_spec& app) {
  // The bounds are the file reader's (config.cpp), key by key.
  if (auto ok = first(app.transport_where, {rules::at_most(app.worker_threads, 256, "workers")});
      !ok)
    return ok;
  const auto& g = app.gateway;
  if (auto ok = first(g.where, {rules::io_threads(g.io_threads, "gateway.io_threads"),
                                rules::at_most(g.io_threads, 256, "gateway.io_threads"),
                                rules::size_at_most(g.body_limit, uint64_t{1} << 32,
                                                    "gateway.body_limit"),
                                rules::duration(g.header_timeout_ms, "gateway.header_timeout"),
                                rules::duration(g.body_timeout_ms, "gateway.body_timeout"),
                                rules::duration(g.idle_timeout_ms, "gateway.idle_timeout")});
      !ok)
    return ok;
  const auto& i = app.instances;
  if (auto ok = first(app.transport_where,
                      {rules::instances_start(i.start, "instances.start"),
                       rules::duration(i.ready_timeout_ms, "instances.ready_timeout"),
                       rules::duration(i.restart_backoff_ms, "instances.restart_backoff"),
                       rules::duration(i.restart_backoff_max_ms, "instances.restart_backoff_max"),
                       rules::at_most(i.crash_loop_restarts, 1000, "instances.crash_loop_restarts"),
                       rules::duration(i.crash_loop_window_ms, "instances.crash_loop_window"),
                       rules::at_most(i.spare, 64, "instances.spare")});
      !ok)
    return ok;
  const auto& as = app.autoscaling;
  if (auto ok = first(as.policy.where,
                      {rules::duration(as.interval_ms, "policies.autoscaler.interval"),
                       rules::at_most(as.hold_limit, 1u << 20, "policies.autoscaler.hold_limit")});
      !ok)
    return ok;
  for (size_t i = 0; i < app.nodes.size(); ++i) {
    const auto& n = app.nodes[i];
    const auto path = "nodes[" + std::to_string(i) + "]";
    if (auto ok = first(n.where, {rules::size_at_most(n.memory, uint64_t{1} << 50, path + ".memory"),
                                  rules::in_range(n.speed, 0.01, 100, path + ".speed"),
                                  rules::instance_cpu_limit(n.instance_cpu_limit,
                                                            path + ".instance_cpu_limit")});
        !ok)
      return ok;
  }
  const auto& m = app.mqtt;
  if (!m.broker.empty() || !m.subscriptions.empty()) {
    if (m.broker.empty())
      return make_error(m.where.prefix() +
                        "mqtt: missing required key 'broker' (e.g. broker: tcp://127.0.0.1:1883)");
    if (auto ok = first(
          m.where, {rules::mqtt_broker(m.broker, "mqtt.broker"),
                    m.client_id.empty() ? std::string()
                                        : rules::mqtt_client_id(m.client_id, "mqtt.client_id"),
                    m.share_group.empty()
                      ? std::string()
                      : rules::mqtt_share_group(m.share_group, "mqtt.share_group"),
                    rules::duration(m.keepalive_ms, "mqtt.keepalive"),
                    rules::duration(m.reconnect_min_ms, "mqtt.reconnect_min"),
                    rules::duration(m.reconnect_max_ms, "mqtt.reconnect_max"),
                    rules::mqtt_reconnect(m.reconnect_min_ms, m.reconnect_max_ms, "mqtt"),
                    rules::duration(m.backpressure_wait_ms, "mqtt.backpressure_wait"),
                    rules::size_at_most(m.max_message_size, 268435455, "mqtt.max_message_size"),
                    rules::mqtt_max_message_size(m.max_message_size, "mqtt.max_message_size"),
                    m.protocol == 4 || m.protocol == 5
                      ? std::string()
                      : "mqtt.protocol: expected 3.1.1 (4) or 5, got " + std::to_string(m.protocol),
                    m.session_expiry_s >= 1
                      ? std::string()
                      : std::string("mqtt.session_expiry: must be at least 1s (or never)")});
        !ok)
      return ok;
    for (size_t i = 0; i < m.subscriptions.size(); ++i) {
      const auto& s = m.subscriptions[i];
      const auto path = "mqtt.subscriptions[" + std::to_string(i) + "]";
      if (auto ok = first(s.where,
                          {rules::mqtt_filter(s.filter, path + ".filter"),
                           rules::mqtt_qos(s.qos, path + ".qos"),
                           rules::mqtt_qos(s.reply_qos, path + ".reply_qos"),
                           rules::mqtt_content_mode(s.content_mode, s.adapter, m.protocol,
                                                    path + ".content_mode")});
          !ok)
        return ok;
    }
  }
  for (size_t i = 0; i < app.functions.size(); ++i) {
    const auto& f = app.functions[i];
    const auto path = "functions[" + std::to_string(i) + "]";
    if (auto ok = first(f.where,
                        {rules::at_most(f.min_instances, 4096, path + ".min_instances"),
                         rules::at_most(f.max_instances, 4096, path + ".max_instances"),
                         rules::at_most(f.concurrency, 65535, path + ".concurrency"),
                         rules::in_range(f.cpu, 0.001, 1024, path + ".cpu"),
                         rules::size_at_most(f.memory, uint64_t{1} << 44, path + ".memory"),
                         rules::in_range(f.slo_percentile, 0.01, 0.9999, path + ".slo_percentile"),
                         rules::in_range(f.weight, 0.001, 1e6, path + ".weight")});
        !ok)
      return ok;
  }
  for (size_t i = 0; i < app.chains.size(); ++i) {
    const auto& c = app.chains[i];
    const auto path = "chains[" + std::to_string(i) + "]";
    // No path: no HTTP route (compile() wants an MQTT subscription then).
    if (auto ok = first(c.where,
                        {c.http.path.empty() ? std::string()
                                             : rules::http_method(c.http.method, path + ".http.method"),
                         c.http.path.empty() ? std::string()
                                             : rules::http_path(c.http.path, path + ".http.path"),
                         rules::pool_buffers(c.pool.buffers, path + ".pool.buffers"),
                         rules::at_most(c.pool.buffers, 1u << 24, path + ".pool.buffers"),
                         rules::pool_buffer_size(c.pool.buffer_size, path + ".pool.buffer_size"),
                         rules::size_at_most(c.pool.buffer_size, 1u << 30,
                                             path + ".pool.buffer_size"),
                         rules::duration(c.timeout_ms, path + ".timeout")});
        !ok)
      return ok;
  }
  return {};
}

} // namespace spry::core
