#include "core/config.hpp"

#include "core/app_rules.hpp"
#include "core/transport_registry.hpp"
#include "core/yaml_walker.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>

namespace spry::core {

namespace {

// The app file's own keys are read here; a transport's section by the parser it registered.
using walker = yaml_walker;

// A rule of app_rules.hpp (shared with the C++ builder's apps) applied to the key `n`.
void apply(const walker& w, const YAML::Node& n, const std::string& problem) {
  if (!problem.empty())
    w.fail(n, problem);
}

void parse_listen(const walker& w, const YAML::Node& n, gateway_spec& g) {
  const auto s = w.str(n, "gateway.listen");
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size())
    w.fail(n, "gateway.listen: expected HOST:PORT such as 127.0.0.1:8080, got '" + s + "'");
  g.host = s.substr(0, colon);
  const auto port = s.substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }) ||
      port.size() > 5 || std::stoul(port) > 65535)
    w.fail(n, "gateway.listen: port must be 0..65535, got '" + port + "'");
  g.port = static_cast<uint16_t>(std::stoul(port));
}

void parse_gateway(const walker& w, const YAML::Node& n, gateway_spec& g) {
  w.expect_map(n, "gateway");
  w.only_keys(n, "gateway",
              {"listen", "io_threads", "body_limit", "header_timeout", "body_timeout",
               "idle_timeout"});
  g.where = w.at(n);
  if (n["listen"])
    parse_listen(w, n["listen"], g);
  if (n["io_threads"]) {
    g.io_threads = static_cast<unsigned>(w.uint(n["io_threads"], "gateway.io_threads", 256));
    apply(w, n["io_threads"], rules::io_threads(g.io_threads, "gateway.io_threads"));
  }
  if (n["body_limit"])
    g.body_limit = w.size(n["body_limit"], "gateway.body_limit", uint64_t{1} << 32);
  if (n["header_timeout"])
    g.header_timeout_ms = w.duration(n["header_timeout"], "gateway.header_timeout");
  if (n["body_timeout"])
    g.body_timeout_ms = w.duration(n["body_timeout"], "gateway.body_timeout");
  if (n["idle_timeout"])
    g.idle_timeout_ms = w.duration(n["idle_timeout"], "gateway.idle_timeout");
}

function_spec parse_function(const walker& w, const YAML::Node& n, const std::string& path) {
  function_spec f;
  f.where = w.at(n);
  if (n.IsScalar()) { // `- upper` is short for `- {name: upper}`
    f.name = f.handler = n.Scalar();
    return f;
  }
  w.expect_map(n, path);
  w.only_keys(n, path, {"name", "handler", "min_instances", "max_instances", "concurrency", "cpu",
                        "memory", "slo", "slo_percentile", "weight"});
  if (!n["name"])
    w.fail(n, path + ": missing required key 'name'");
  f.name = w.str(n["name"], path + ".name");
  f.handler = n["handler"] ? w.str(n["handler"], path + ".handler") : f.name;
  if (n["min_instances"])
    f.min_instances = static_cast<uint32_t>(w.uint(n["min_instances"], path + ".min_instances", 4096));
  if (n["max_instances"])
    f.max_instances = static_cast<uint32_t>(w.uint(n["max_instances"], path + ".max_instances", 4096));
  else
    f.max_instances = std::max(f.max_instances, f.min_instances);
  if (n["concurrency"])
    f.concurrency = static_cast<uint32_t>(w.uint(n["concurrency"], path + ".concurrency", 65535));
  if (n["cpu"])
    f.cpu = w.number(n["cpu"], path + ".cpu", 0.001, 1024);
  if (n["memory"])
    f.memory = w.size(n["memory"], path + ".memory", uint64_t{1} << 44);
  if (n["slo"])
    f.slo_ms = w.duration(n["slo"], path + ".slo");
  if (n["slo_percentile"])
    f.slo_percentile = w.number(n["slo_percentile"], path + ".slo_percentile", 0.01, 0.9999);
  if (n["weight"])
    f.weight = w.number(n["weight"], path + ".weight", 0.001, 1e6);
  return f;
}

// `kpa` or `{name: kpa, params: {key: value}}` (the policy lab's form too); `extra` lists the
// further keys the map form may have, which the caller reads.
policy_choice parse_policy(const walker& w, const YAML::Node& n, const std::string& path,
                           std::initializer_list<const char*> extra = {}) {
  policy_choice p;
  p.where = w.at(n);
  if (n.IsScalar()) {
    p.name = n.Scalar();
    return p;
  }
  w.expect_map(n, path);
  std::vector<std::string> keys{"name", "params"};
  keys.insert(keys.end(), extra.begin(), extra.end());
  w.only_keys(n, path, keys);
  if (!n["name"])
    w.fail(n, path + ": missing required key 'name'");
  p.name = w.str(n["name"], path + ".name");
  if (n["params"]) {
    w.expect_map(n["params"], path + ".params");
    for (const auto& kv : n["params"])
      p.params.emplace_back(kv.first.as<std::string>(),
                            w.str(kv.second, path + ".params." + kv.first.as<std::string>()));
  }
  return p;
}

// "0-3,6" -> {0,1,2,3,6}
std::vector<unsigned> parse_cpu_list(const walker& w, const YAML::Node& n, const std::string& path) {
  const std::string s = w.str(n, path);
  std::vector<unsigned> out;
  std::stringstream ss(s);
  std::string part;
  auto bad = [&] {
    w.fail(n, path + ": expected CPU ids such as \"0\", \"0-1\" or \"0,2-3\", got '" + s + "'");
  };
  while (std::getline(ss, part, ',')) {
    const auto dash = part.find('-');
    const std::string a = part.substr(0, dash);
    const std::string b = dash == std::string::npos ? a : part.substr(dash + 1);
    auto digits = [](const std::string& x) {
      return !x.empty() && x.size() <= 4 &&
             std::all_of(x.begin(), x.end(), [](unsigned char c) { return std::isdigit(c); });
    };
    if (!digits(a) || !digits(b))
      bad();
    const unsigned lo = static_cast<unsigned>(std::stoul(a));
    const unsigned hi = static_cast<unsigned>(std::stoul(b));
    if (lo > hi)
      bad();
    for (unsigned c = lo; c <= hi; ++c)
      if (std::find(out.begin(), out.end(), c) == out.end())
        out.push_back(c);
  }
  if (out.empty())
    bad();
  return out;
}

node_spec parse_node(const walker& w, const YAML::Node& n, const std::string& path) {
  w.expect_map(n, path);
  w.only_keys(n, path, {"name", "cpus", "memory", "speed", "instance_cpu_limit"});
  node_spec node;
  node.where = w.at(n);
  if (!n["name"])
    w.fail(n, path + ": missing required key 'name'");
  node.name = w.str(n["name"], path + ".name");
  if (n["cpus"])
    node.cpus = parse_cpu_list(w, n["cpus"], path + ".cpus");
  if (n["memory"])
    node.memory = w.size(n["memory"], path + ".memory", uint64_t{1} << 50);
  if (n["speed"])
    node.speed = w.number(n["speed"], path + ".speed", 0.01, 100);
  if (n["instance_cpu_limit"])
    node.instance_cpu_limit =
      w.number(n["instance_cpu_limit"], path + ".instance_cpu_limit", 0.01, 1024);
  return node;
}

route_spec parse_route(const walker& w, const YAML::Node& n, const std::string& path) {
  w.expect_map(n, path);
  w.only_keys(n, path, {"from", "topic", "to"});
  route_spec r;
  r.where = w.at(n);
  for (const char* k : {"from", "to"})
    if (!n[k])
      w.fail(n, path + ": missing required key '" + k + "'");
  r.from = w.str(n["from"], path + ".from");
  r.to = w.str(n["to"], path + ".to");
  if (n["topic"])
    r.topic = w.str(n["topic"], path + ".topic");
  return r;
}

chain_spec parse_chain(const walker& w, const YAML::Node& n, const std::string& path) {
  w.expect_map(n, path);
  w.only_keys(n, path,
              {"name", "http", "functions", "head", "routes", "pool", "timeout", "adapter"});
  chain_spec c;
  c.where = w.at(n);
  if (!n["name"])
    w.fail(n, path + ": missing required key 'name'");
  c.name = w.str(n["name"], path + ".name");
  // No `http:`: the chain has no HTTP route (an MQTT subscription triggers it; checked in
  // validate(), which knows the subscriptions).
  const auto& h = n["http"];
  if (!h)
    c.http.path.clear();
  else {
  w.expect_map(h, path + ".http");
  w.only_keys(h, path + ".http", {"method", "path"});
  if (h["method"]) {
    c.http.method = w.str(h["method"], path + ".http.method");
    apply(w, h["method"], rules::http_method(c.http.method, path + ".http.method"));
  }
  if (!h["path"])
    w.fail(h, path + ".http: missing required key 'path'");
  c.http.path = w.str(h["path"], path + ".http.path");
  apply(w, h["path"], rules::http_path(c.http.path, path + ".http.path"));
  if (c.http.path.size() > 1 && c.http.path.back() == '/')
    c.http.path.pop_back();
  }
  if (n["functions"])
    c.functions = w.str_list(n["functions"], path + ".functions");
  if (n["head"])
    c.head = w.str(n["head"], path + ".head");
  if (n["routes"]) {
    const auto& rs = n["routes"];
    if (!rs.IsSequence())
      w.fail(rs, path + ".routes: expected a list of {from, topic, to}");
    for (size_t i = 0; i < rs.size(); ++i)
      c.routes.push_back(parse_route(w, rs[i], path + ".routes[" + std::to_string(i) + "]"));
  }
  if (n["pool"]) {
    const auto& p = n["pool"];
    w.expect_map(p, path + ".pool");
    w.only_keys(p, path + ".pool", {"buffers", "buffer_size"});
    if (p["buffers"])
      c.pool.buffers = static_cast<uint32_t>(w.uint(p["buffers"], path + ".pool.buffers", 1u << 24));
    if (p["buffer_size"])
      c.pool.buffer_size =
        static_cast<uint32_t>(w.size(p["buffer_size"], path + ".pool.buffer_size", 1u << 30));
    apply(w, p["buffers"], rules::pool_buffers(c.pool.buffers, path + ".pool.buffers"));
    apply(w, p["buffer_size"],
          rules::pool_buffer_size(c.pool.buffer_size, path + ".pool.buffer_size"));
  }
  if (n["timeout"])
    c.timeout_ms = w.duration(n["timeout"], path + ".timeout");
  if (n["adapter"])
    c.adapter = w.str(n["adapter"], path + ".adapter");
  return c;
}

// A library path: a bare name ("libfoo.so") is left to the dynamic loader's search path unless
// the app file's directory has it; anything with a directory part is relative to the app file.
// The result is absolute whenever it names a file beside the app: dlopen searches its own path
// (not the working directory) for a name without a '/', so "libfoo.so" found beside an app file
// given as a bare "app.yaml" must not come back as the bare name.
std::string resolve_library(const walker& w, const std::string& lib) {
  std::error_code ec;
  auto base = std::filesystem::absolute(std::filesystem::path(w.file()), ec).parent_path();
  if (ec)
    base = std::filesystem::path(w.file()).parent_path();
  std::filesystem::path p(lib);
  if (p.is_relative() && p.has_parent_path())
    p = (base / p).lexically_normal();
  else if (p.is_relative() && std::filesystem::exists(base / p))
    p = (base / p).lexically_normal();
  return p.string();
}

adapter_spec parse_adapter(const walker& w, const YAML::Node& n, const std::string& path) {
  w.expect_map(n, path);
  w.only_keys(n, path, {"name", "library"});
  adapter_spec a;
  a.where = w.at(n);
  for (const char* k : {"name", "library"})
    if (!n[k])
      w.fail(n, path + ": missing required key '" + k + "'");
  a.name = w.str(n["name"], path + ".name");
  a.library = resolve_library(w, w.str(n["library"], path + ".library"));
  return a;
}

int parse_qos(const walker& w, const YAML::Node& n, const std::string& path) {
  const auto q = static_cast<int>(w.uint(n, path, 2));
  apply(w, n, rules::mqtt_qos(q, path));
  return q;
}

mqtt_spec parse_mqtt(const walker& w, const YAML::Node& n) {
  w.expect_map(n, "mqtt");
  w.only_keys(n, "mqtt", {"broker", "client_id", "keepalive", "reconnect_min", "reconnect_max",
                          "backpressure_wait", "persistent_session", "max_message_size", "share_group",
                          "protocol", "session_expiry", "subscriptions"});
  mqtt_spec m;
  m.where = w.at(n);
  if (!n["broker"])
    w.fail(n, "mqtt: missing required key 'broker' (e.g. broker: tcp://127.0.0.1:1883)");
  m.broker = w.str(n["broker"], "mqtt.broker");
  apply(w, n["broker"], rules::mqtt_broker(m.broker, "mqtt.broker"));
  if (n["client_id"]) {
    m.client_id = w.str(n["client_id"], "mqtt.client_id");
    apply(w, n["client_id"], rules::mqtt_client_id(m.client_id, "mqtt.client_id"));
  }
  if (n["share_group"]) {
    m.share_group = w.str(n["share_group"], "mqtt.share_group");
    apply(w, n["share_group"], rules::mqtt_share_group(m.share_group, "mqtt.share_group"));
  }
  if (n["protocol"]) {
    const auto v = w.str(n["protocol"], "mqtt.protocol");
    if (v == "3.1.1" || v == "4")
      m.protocol = 4;
    else if (v == "5" || v == "5.0")
      m.protocol = 5;
    else
      w.fail(n["protocol"], "mqtt.protocol: expected 3.1.1 or 5, got '" + v + "'");
  }
  if (n["session_expiry"]) {
    if (m.protocol != 5)
      w.fail(n["session_expiry"],
             "mqtt.session_expiry: needs protocol: 5 (MQTT 3.1.1 has no session expiry: there a "
             "persistent session lasts until the broker's persistent_client_expiration)");
    const auto v = w.str(n["session_expiry"], "mqtt.session_expiry");
    if (v == "never") {
      m.session_expiry_s = 0xffffffffu;
    } else {
      const uint32_t ms = w.duration(n["session_expiry"], "mqtt.session_expiry");
      if (ms < 1000)
        w.fail(n["session_expiry"], "mqtt.session_expiry: must be at least 1s (or never)");
      m.session_expiry_s = ms / 1000;
    }
  }
  if (n["keepalive"])
    m.keepalive_ms = w.duration(n["keepalive"], "mqtt.keepalive");
  if (n["reconnect_min"])
    m.reconnect_min_ms = w.duration(n["reconnect_min"], "mqtt.reconnect_min");
  if (n["reconnect_max"])
    m.reconnect_max_ms = w.duration(n["reconnect_max"], "mqtt.reconnect_max");
  apply(w, n, rules::mqtt_reconnect(m.reconnect_min_ms, m.reconnect_max_ms, "mqtt"));
  if (n["backpressure_wait"])
    m.backpressure_wait_ms = w.duration(n["backpressure_wait"], "mqtt.backpressure_wait");
  if (!n["subscriptions"] || !n["subscriptions"].IsSequence())
    w.fail(n, "mqtt: expected 'subscriptions', a list of {filter, chain, qos, adapter, reply_topic}");
  const auto& subs = n["subscriptions"];
  for (size_t i = 0; i < subs.size(); ++i) {
    const auto path = "mqtt.subscriptions[" + std::to_string(i) + "]";
    const auto& s = subs[i];
    w.expect_map(s, path);
    w.only_keys(s, path, {"filter", "chain", "qos", "adapter", "reply_topic", "reply_qos",
                          "content_mode"});
    mqtt_subscription sub;
    sub.where = w.at(s);
    for (const char* k : {"filter", "chain"})
      if (!s[k])
        w.fail(s, path + ": missing required key '" + k + "'");
    sub.filter = w.str(s["filter"], path + ".filter");
    apply(w, s["filter"], rules::mqtt_filter(sub.filter, path + ".filter"));
    sub.chain = w.str(s["chain"], path + ".chain");
    if (s["qos"])
      sub.qos = parse_qos(w, s["qos"], path + ".qos");
    if (s["adapter"])
      sub.adapter = w.str(s["adapter"], path + ".adapter");
    if (s["reply_topic"])
      sub.reply_topic = w.str(s["reply_topic"], path + ".reply_topic");
    if (s["reply_qos"])
      sub.reply_qos = parse_qos(w, s["reply_qos"], path + ".reply_qos");
    if (s["content_mode"]) {
      sub.content_mode = w.str(s["content_mode"], path + ".content_mode");
      apply(w, s["content_mode"],
            rules::mqtt_content_mode(sub.content_mode, sub.adapter, m.protocol,
                                     path + ".content_mode"));
    }
    m.subscriptions.push_back(std::move(sub));
  }
  m.persistent_session = std::any_of(m.subscriptions.begin(), m.subscriptions.end(),
                                     [](const mqtt_subscription& s) { return s.qos >= 1; });
  if (n["persistent_session"]) {
    m.persistent_session = w.boolean(n["persistent_session"], "mqtt.persistent_session");
  }
  if (n["max_message_size"]) {
    // 256 MiB - 1 is the largest packet MQTT's remaining-length field can describe.
    m.max_message_size = static_cast<uint32_t>(
      w.size(n["max_message_size"], "mqtt.max_message_size", 268435455));
    apply(w, n["max_message_size"],
          rules::mqtt_max_message_size(m.max_message_size, "mqtt.max_message_size"));
  }
  return m;
}

app_spec parse_root(const walker& w, const YAML::Node& root, const transport_registry& transports) {
  if (!root.IsDefined() || root.IsNull())
    throw config_error{w.file() + ": the file is empty; an app needs `functions:` and `chains:`"};
  w.expect_map(root, "app file");
  // The app's own keys, then every section a transport of this build registered.
  std::vector<std::string> keys{"app",      "transport", "gateway",   "libraries", "functions",
                                "chains",   "policies",  "workers",   "routing",   "instances",
                                "nodes",    "adapters",  "mqtt"};
  const auto sections = transports.sections();
  for (const auto* s : sections)
    keys.push_back(s->key);
  w.only_keys(root, "top level", keys);
  app_spec app;
  if (root["app"])
    app.name = w.str(root["app"], "app");
  if (root["transport"]) {
    app.transport = w.str(root["transport"], "transport");
    app.transport_where = w.at(root["transport"]);
  } else {
    app.transport_where = w.at(root);
  }
  if (root["workers"])
    app.worker_threads = static_cast<unsigned>(w.uint(root["workers"], "workers", 256));
  if (root["gateway"])
    parse_gateway(w, root["gateway"], app.gateway);
  if (root["routing"]) {
    app.routing = w.str(root["routing"], "routing");
    app.routing_where = w.at(root["routing"]);
    if (app.routing != "direct" && app.routing != "broker")
      w.fail(root["routing"], "routing: expected 'direct' or 'broker', got '" + app.routing + "'");
  }
  if (root["instances"]) {
    const auto& n = root["instances"];
    w.expect_map(n, "instances");
    w.only_keys(n, "instances", {"ready_timeout", "restart_backoff", "restart_backoff_max",
                                 "crash_loop_restarts", "crash_loop_window", "start", "spare"});
    auto& i = app.instances;
    if (n["start"]) {
      i.start = w.str(n["start"], "instances.start");
      apply(w, n["start"], rules::instances_start(i.start, "instances.start"));
    }
    if (n["ready_timeout"])
      i.ready_timeout_ms = w.duration(n["ready_timeout"], "instances.ready_timeout");
    if (n["restart_backoff"])
      i.restart_backoff_ms = w.duration(n["restart_backoff"], "instances.restart_backoff");
    if (n["restart_backoff_max"])
      i.restart_backoff_max_ms = w.duration(n["restart_backoff_max"], "instances.restart_backoff_max");
    if (n["crash_loop_restarts"])
      i.crash_loop_restarts =
        static_cast<uint32_t>(w.uint(n["crash_loop_restarts"], "instances.crash_loop_restarts", 1000));
    if (n["crash_loop_window"])
      i.crash_loop_window_ms = w.duration(n["crash_loop_window"], "instances.crash_loop_window");
    if (n["spare"])
      i.spare = static_cast<uint32_t>(w.uint(n["spare"], "instances.spare", 64));
  }
  for (const auto* s : sections)
    if (const auto& n = root[s->key]) {
      auto settings = s->parse(w, n);
      if (!settings)
        w.fail(n, s->key + ": the transport's parser returned no settings");
      settings->where = w.at(n);
      app.transport_settings.set(std::move(settings));
    }
  if (root["policies"]) {
    const auto& p = root["policies"];
    w.expect_map(p, "policies");
    w.only_keys(p, "policies", {"load_balancer", "autoscaler", "placement"});
    if (p["load_balancer"]) {
      app.load_balancer = w.str(p["load_balancer"], "policies.load_balancer");
      app.load_balancer_where = w.at(p["load_balancer"]);
    }
    if (const auto& a = p["autoscaler"]) {
      app.autoscaling.policy = parse_policy(w, a, "policies.autoscaler", {"interval", "hold_limit"});
      if (a.IsMap() && a["interval"])
        app.autoscaling.interval_ms = w.duration(a["interval"], "policies.autoscaler.interval");
      if (a.IsMap() && a["hold_limit"])
        app.autoscaling.hold_limit =
          static_cast<uint32_t>(w.uint(a["hold_limit"], "policies.autoscaler.hold_limit", 1u << 20));
    }
    if (p["placement"])
      app.placement = parse_policy(w, p["placement"], "policies.placement");
  }
  if (root["nodes"]) {
    if (!root["nodes"].IsSequence())
      w.fail(root["nodes"], "nodes: expected a list of {name, cpus, memory, speed, instance_cpu_limit}");
    for (size_t i = 0; i < root["nodes"].size(); ++i)
      app.nodes.push_back(parse_node(w, root["nodes"][i], "nodes[" + std::to_string(i) + "]"));
  }
  if (root["libraries"])
    for (auto& lib : w.str_list(root["libraries"], "libraries"))
      app.libraries.push_back(resolve_library(w, lib));
  if (root["adapters"]) {
    if (!root["adapters"].IsSequence())
      w.fail(root["adapters"], "adapters: expected a list of {name, library}");
    for (size_t i = 0; i < root["adapters"].size(); ++i)
      app.adapters.push_back(
        parse_adapter(w, root["adapters"][i], "adapters[" + std::to_string(i) + "]"));
  }
  if (root["mqtt"]) {
    app.mqtt = parse_mqtt(w, root["mqtt"]);
    // Per app, not one name for all: two apps sharing a client id on one broker would take each
    // other's persistent session over.
    if (app.mqtt.client_id.empty())
      app.mqtt.client_id = "spry-" + (app.name.empty() ? std::string("gateway") : app.name);
  }
  if (!root["functions"])
    w.fail(root, "missing required key 'functions' (the functions of the app)");
  if (!root["functions"].IsSequence())
    w.fail(root["functions"], "functions: expected a list");
  for (size_t i = 0; i < root["functions"].size(); ++i)
    app.functions.push_back(
      parse_function(w, root["functions"][i], "functions[" + std::to_string(i) + "]"));
  if (!root["chains"])
    w.fail(root, "missing required key 'chains' (how requests enter and flow)");
  if (!root["chains"].IsSequence())
    w.fail(root["chains"], "chains: expected a list");
  for (size_t i = 0; i < root["chains"].size(); ++i)
    app.chains.push_back(parse_chain(w, root["chains"][i], "chains[" + std::to_string(i) + "]"));
  return app;
}

} // namespace

expected<uint64_t> parse_size(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
    ++i;
  if (i == 0 || i > 19)
    return make_error("expected a size such as 64KiB, 1MiB, 4096; got '" + s + "'");
  const uint64_t n = std::stoull(s.substr(0, i));
  std::string unit = s.substr(i);
  while (!unit.empty() && unit.front() == ' ')
    unit.erase(0, 1);
  uint64_t mult = 1;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "KiB" || unit == "K" || unit == "KB" || unit == "k")
    mult = 1024;
  else if (unit == "MiB" || unit == "M" || unit == "MB")
    mult = 1024 * 1024;
  else if (unit == "GiB" || unit == "G" || unit == "GB")
    mult = 1024ull * 1024 * 1024;
  else
    return make_error("unknown size unit '" + unit + "' in '" + s + "' (use B, KiB, MiB, GiB)");
  if (n > UINT64_MAX / mult)
    return make_error("size '" + s + "' overflows");
  return n * mult;
}

expected<uint64_t> parse_duration_ms(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
    ++i;
  if (i == 0 || i > 12)
    return make_error("expected a duration such as 10s, 250ms, 2m; got '" + s + "'");
  const uint64_t n = std::stoull(s.substr(0, i));
  const std::string unit = s.substr(i);
  if (unit.empty() || unit == "ms")
    return n;
  if (unit == "s")
    return n * 1000;
  if (unit == "m")
    return n * 60 * 1000;
  if (unit == "h") // session lifetimes (mqtt.session_expiry: 1h)
    return n * 3600 * 1000;
  return make_error("unknown duration unit '" + unit + "' in '" + s + "' (use ms, s, m, h)");
}

expected<app_spec> parse_app_yaml(const std::string& text, const std::string& file,
                                  const transport_registry& transports) {
  walker w(file);
  try {
    return parse_root(w, walker::load_text(text, file), transports);
  } catch (const config_error& e) {
    return make_error(e.message);
  } catch (const YAML::Exception& e) {
    // Conversions inside yaml-cpp: still in our file:line format.
    return make_error(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

expected<app_spec> load_app_file(const std::string& path, const transport_registry& transports) {
  std::ifstream in(path);
  if (!in)
    return make_error("cannot read app file '" + path + "': " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_app_yaml(ss.str(), path, transports);
}

} // namespace spry::core
