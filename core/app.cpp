#include "core/app.hpp"

namespace spry::core {

function_spec& function_builder::spec() { return owner_->spec_.functions[index_]; }

function_builder& function_builder::instances(uint32_t min, uint32_t max) {
  spec().min_instances = min;
  spec().max_instances = max;
  return *this;
}

function_builder& function_builder::concurrency(uint32_t n) {
  spec().concurrency = n;
  return *this;
}

function_builder& function_builder::resources(double cpu, uint64_t memory_bytes) {
  spec().cpu = cpu;
  spec().memory = memory_bytes;
  return *this;
}

function_builder& function_builder::slo(uint32_t ms, double percentile) {
  spec().slo_ms = ms;
  spec().slo_percentile = percentile;
  return *this;
}

function_builder& function_builder::weight(double w) {
  spec().weight = w;
  return *this;
}

function_builder& function_builder::handler(std::string name) {
  spec().handler = std::move(name);
  return *this;
}

chain_spec& chain_builder::spec() { return owner_->spec_.chains[index_]; }

chain_builder& chain_builder::http(std::string method, std::string path) {
  spec().http = http_binding{std::move(method), std::move(path)};
  return *this;
}

chain_builder& chain_builder::then(const std::string& function) {
  spec().functions.push_back(function);
  return *this;
}

chain_builder& chain_builder::route(std::string from, std::string topic, std::string to) {
  spec().routes.push_back(route_spec{std::move(from), std::move(topic), std::move(to), {}});
  return *this;
}

chain_builder& chain_builder::no_http() {
  spec().http.path.clear();
  return *this;
}

chain_builder& chain_builder::head(std::string function) {
  spec().head = std::move(function);
  return *this;
}

chain_builder& chain_builder::pool(uint32_t buffers, uint32_t buffer_size) {
  spec().pool = pool_spec{buffers, buffer_size};
  return *this;
}

chain_builder& chain_builder::timeout_ms(uint32_t ms) {
  spec().timeout_ms = ms;
  return *this;
}

chain_builder& chain_builder::adapter(std::string name) {
  spec().adapter = std::move(name);
  return *this;
}

mqtt_spec& mqtt_builder::spec() { return owner_->spec_.mqtt; }

mqtt_builder& mqtt_builder::subscribe(std::string filter, std::string chain, int qos,
                                      std::string reply_topic, int reply_qos,
                                      std::string adapter) {
  mqtt_subscription s;
  s.filter = std::move(filter);
  s.chain = std::move(chain);
  s.qos = qos;
  s.reply_topic = std::move(reply_topic);
  s.reply_qos = reply_qos;
  s.adapter = std::move(adapter);
  return subscribe(std::move(s));
}

mqtt_builder& mqtt_builder::subscribe(mqtt_subscription s) {
  s.where = {};
  spec().subscriptions.push_back(std::move(s));
  // The file's default: a persistent session as soon as one subscription has QoS 1.
  if (!owner_->mqtt_session_set_)
    spec().persistent_session = spec().persistent_session || spec().subscriptions.back().qos >= 1;
  return *this;
}

mqtt_builder& mqtt_builder::persistent_session(bool on) {
  spec().persistent_session = on;
  owner_->mqtt_session_set_ = true;
  return *this;
}

mqtt_builder& mqtt_builder::reconnect_ms(uint32_t min_ms, uint32_t max_ms) {
  spec().reconnect_min_ms = min_ms;
  spec().reconnect_max_ms = max_ms;
  return *this;
}

mqtt_builder& mqtt_builder::backpressure_wait_ms(uint32_t ms) {
  spec().backpressure_wait_ms = ms;
  return *this;
}

mqtt_builder& mqtt_builder::max_message_size(uint32_t bytes) {
  spec().max_message_size = bytes;
  return *this;
}

mqtt_builder& mqtt_builder::client_id(std::string id) {
  spec().client_id = std::move(id);
  return *this;
}

mqtt_builder& mqtt_builder::share_group(std::string group) {
  spec().share_group = std::move(group);
  return *this;
}

mqtt_builder& mqtt_builder::keepalive_ms(uint32_t ms) {
  spec().keepalive_ms = ms;
  return *this;
}

app::app(std::string name) { spec_.name = std::move(name); }

function_builder app::function(const std::string& name, function_body body, uint32_t instances) {
  if (auto ok = functions_.add(name, std::move(body)); !ok)
    errors_.push_back(ok.err().message);
  function_spec f;
  f.name = f.handler = name;
  f.min_instances = f.max_instances = instances;
  spec_.functions.push_back(std::move(f));
  return function_builder(this, spec_.functions.size() - 1);
}

function_builder app::function(const std::string& name, std::string handler) {
  function_spec f;
  f.name = name;
  f.handler = handler.empty() ? name : std::move(handler);
  spec_.functions.push_back(std::move(f));
  return function_builder(this, spec_.functions.size() - 1);
}

chain_builder app::chain(std::string name) {
  chain_spec c;
  c.name = std::move(name);
  c.http.path = "/" + c.name;
  spec_.chains.push_back(std::move(c));
  return chain_builder(this, spec_.chains.size() - 1);
}

app& app::transport(std::string name) {
  spec_.transport = std::move(name);
  return *this;
}

app& app::listen(std::string host, uint16_t port) {
  spec_.gateway.host = std::move(host);
  spec_.gateway.port = port;
  return *this;
}

app& app::gateway(const gateway_spec& g) {
  const gateway_spec defaults;
  const auto host = spec_.gateway.host;
  const auto port = spec_.gateway.port;
  spec_.gateway = g;
  if (g.host == defaults.host && g.port == defaults.port) {
    spec_.gateway.host = host;
    spec_.gateway.port = port;
  }
  return *this;
}

app& app::load_balancer(std::string name) {
  spec_.load_balancer = std::move(name);
  return *this;
}

app& app::autoscaler(std::string name, policy_params params, uint32_t interval_ms,
                     uint32_t hold_limit) {
  spec_.autoscaling.policy = policy_choice{std::move(name), std::move(params), {}};
  spec_.autoscaling.interval_ms = interval_ms;
  spec_.autoscaling.hold_limit = hold_limit;
  return *this;
}

app& app::placement(std::string name, policy_params params) {
  spec_.placement = policy_choice{std::move(name), std::move(params), {}};
  return *this;
}

app& app::node(std::string name, std::vector<unsigned> cpus, uint64_t memory, double speed,
               double instance_cpu_limit) {
  spec_.nodes.push_back(
    node_spec{std::move(name), std::move(cpus), memory, speed, instance_cpu_limit, {}});
  return *this;
}

app& app::library(std::string path) {
  spec_.libraries.push_back(std::move(path));
  return *this;
}

app& app::workers(unsigned n) {
  spec_.worker_threads = n;
  return *this;
}

app& app::adapter(std::string name, std::string library) {
  spec_.adapters.push_back(adapter_spec{std::move(name), std::move(library), {}});
  return *this;
}

app& app::routing(std::string mode) {
  spec_.routing = std::move(mode);
  return *this;
}

mqtt_builder app::mqtt(std::string broker) {
  spec_.mqtt.broker = std::move(broker);
  // Per app, as the file reader does: two apps sharing a client id on one broker would take each
  // other's persistent session over.
  if (spec_.mqtt.client_id.empty())
    spec_.mqtt.client_id = "spry-" + (spec_.name.empty() ? std::string("gateway") : spec_.name);
  return mqtt_builder(this);
}

app& app::instances(const instances_spec& s) {
  spec_.instances = s;
  return *this;
}

app& app::configure(const transport_config& settings) {
  spec_.transport_settings.set(settings.clone());
  return *this;
}

} // namespace spry::core
