#include "core/config.hpp"
#include "core/config_walker.hpp"

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

using config_detail::config_error;
using config_detail::walker;

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
    if (g.io_threads == 0)
      w.fail(n["io_threads"], "gateway.io_threads: must be at least 1");
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

void parse_dpdk(const walker& w, const YAML::Node& n, dpdk_spec& d) {
  w.expect_map(n, "dpdk");
  w.only_keys(n, "dpdk", {"lcores", "ring_size", "memory", "file_prefix", "idle", "spin_us"});
  d.where = w.at(n);
  auto check = [&](const char* key, const std::string& problem) {
    if (!problem.empty())
      w.fail(n[key], problem);
  };
  if (n["lcores"]) {
    // `lcores: 1` is read as a string too: a single CPU is a valid list.
    d.lcores = w.str(n["lcores"], "dpdk.lcores");
    check("lcores", dpdk_lcores_problem(d.lcores));
  }
  if (n["ring_size"]) {
    const auto v = w.uint(n["ring_size"], "dpdk.ring_size", uint64_t{1} << 32);
    check("ring_size", dpdk_ring_size_problem(v));
    d.ring_size = static_cast<uint32_t>(v);
  }
  if (n["memory"]) {
    d.memory = w.size(n["memory"], "dpdk.memory", uint64_t{1} << 40);
    check("memory", dpdk_memory_problem(d.memory));
  }
  if (n["file_prefix"]) {
    d.file_prefix = w.str(n["file_prefix"], "dpdk.file_prefix");
    if (d.file_prefix.empty())
      w.fail(n["file_prefix"], "dpdk.file_prefix: must not be empty (leave it out for a "
                               "prefix unique to each run)");
    check("file_prefix", dpdk_file_prefix_problem(d.file_prefix));
  }
  if (n["idle"]) {
    d.idle = w.str(n["idle"], "dpdk.idle");
    check("idle", dpdk_idle_problem(d.idle));
  }
  if (n["spin_us"]) {
    const auto v = w.uint(n["spin_us"], "dpdk.spin_us", uint64_t{1} << 32);
    check("spin_us", dpdk_spin_us_problem(v));
    d.spin_us = static_cast<uint32_t>(v);
    if (n["idle"] && d.idle != "adaptive")
      w.fail(n["spin_us"], "dpdk.spin_us: only an adaptive poller sleeps (idle is '" + d.idle +
                               "'); leave spin_us out or set idle: adaptive");
  }
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
  std::vector<const char*> keys{"name", "params"};
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
  w.only_keys(n, path, {"name", "cpus", "memory", "speed"});
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
    static const char* methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    if (std::none_of(std::begin(methods), std::end(methods),
                     [&](const char* m) { return c.http.method == m; }))
      w.fail(h["method"], path + ".http.method: expected GET, POST, PUT, PATCH or DELETE, got '" +
                              c.http.method + "'");
  }
  if (!h["path"])
    w.fail(h, path + ".http: missing required key 'path'");
  c.http.path = w.str(h["path"], path + ".http.path");
  if (c.http.path.empty() || c.http.path[0] != '/')
    w.fail(h["path"], path + ".http.path: must start with '/'");
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
    if (c.pool.buffers == 0)
      w.fail(p["buffers"], path + ".pool.buffers: must be at least 1");
    if (c.pool.buffer_size == 0)
      w.fail(p["buffer_size"], path + ".pool.buffer_size: must be at least 1 byte");
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

app_spec parse_root(const walker& w, const YAML::Node& root) {
  if (!root.IsDefined() || root.IsNull())
    throw config_error{w.file() + ": the file is empty; an app needs `functions:` and `chains:`"};
  w.expect_map(root, "app file");
  w.only_keys(root, "top level",
              {"app", "transport", "gateway", "libraries", "functions", "chains", "policies",
               "workers", "routing", "instances", "tcp", "nodes", "adapters", "mqtt", "dpdk"});
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
                                 "crash_loop_restarts", "crash_loop_window"});
    auto& i = app.instances;
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
  }
  if (root["tcp"]) {
    const auto& n = root["tcp"];
    w.expect_map(n, "tcp");
    w.only_keys(n, "tcp", {"sidecar", "front_end", "connections_per_peer", "namespaces",
                           "xdp_tc_redirect"});
    app.tcp.where = w.at(n);
    if (n["sidecar"]) {
      const auto v = w.str(n["sidecar"], "tcp.sidecar");
      if (v != "true" && v != "false")
        w.fail(n["sidecar"], "tcp.sidecar: expected true or false, got '" + v + "'");
      app.tcp.sidecar = v == "true";
    }
    if (n["front_end"]) {
      app.tcp.front_end = w.str(n["front_end"], "tcp.front_end");
      if (app.tcp.front_end != "none" && app.tcp.front_end != "nginx")
        w.fail(n["front_end"], "tcp.front_end: expected none or nginx, got '" + app.tcp.front_end + "'");
    }
    if (n["connections_per_peer"]) {
      app.tcp.connections_per_peer =
        static_cast<unsigned>(w.uint(n["connections_per_peer"], "tcp.connections_per_peer", 1024));
      if (app.tcp.connections_per_peer == 0)
        w.fail(n["connections_per_peer"], "tcp.connections_per_peer: must be at least 1");
    }
    if (n["namespaces"]) {
      const auto v = w.str(n["namespaces"], "tcp.namespaces");
      if (v != "true" && v != "false")
        w.fail(n["namespaces"], "tcp.namespaces: expected true or false, got '" + v + "'");
      app.tcp.namespaces = v == "true";
    }
    if (n["xdp_tc_redirect"]) {
      // YAML 1.1 reads a bare on/off as a boolean; yaml-cpp hands us the text, so accept both.
      const auto v = w.str(n["xdp_tc_redirect"], "tcp.xdp_tc_redirect");
      if (v != "on" && v != "off" && v != "true" && v != "false")
        w.fail(n["xdp_tc_redirect"], "tcp.xdp_tc_redirect: expected on or off, got '" + v + "'");
      app.tcp.xdp_tc_redirect = v == "on" || v == "true";
      if (app.tcp.xdp_tc_redirect && !app.tcp.namespaces)
        w.fail(n["xdp_tc_redirect"], "tcp.xdp_tc_redirect: on needs tcp.namespaces: true (the "
                                     "programs sit on the pods' veths)");
    }
    if (app.tcp.namespaces && (app.tcp.sidecar || app.tcp.front_end != "none"))
      w.fail(n["namespaces"], "tcp.namespaces: not supported together with tcp.sidecar or "
                              "tcp.front_end yet (they listen on loopback outside the pods)");
  }
  if (root["dpdk"])
    parse_dpdk(w, root["dpdk"], app.dpdk);
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
      w.fail(root["nodes"], "nodes: expected a list of {name, cpus, memory, speed}");
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
  return make_error("unknown duration unit '" + unit + "' in '" + s + "' (use ms, s, m)");
}

expected<app_spec> parse_app_yaml(const std::string& text, const std::string& file) {
  walker w(file);
  try {
    YAML::Node root = YAML::Load(text);
    return parse_root(w, root);
  } catch (const config_error& e) {
    return make_error(e.message);
  } catch (const YAML::Exception& e) {
    // yaml-cpp's own syntax errors: keep its message, in our file:line format.
    return make_error(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg);
  }
}

expected<app_spec> load_app_file(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return make_error("cannot read app file '" + path + "': " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_app_yaml(ss.str(), path);
}

} // namespace spry::core
