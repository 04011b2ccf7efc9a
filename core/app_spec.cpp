#include "core/app_spec.hpp"

#include "core/app_rules.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace spry::core {

std::string source_location::prefix() const {
  if (file.empty() && line == 0)
    return {};
  std::string out = file.empty() ? std::string("<app>") : file;
  if (line > 0)
    out += ":" + std::to_string(line) + ":" + std::to_string(column);
  return out + ": ";
}

route_findings check_routes(const app_spec& app) {
  route_findings out;
  auto compiled = compile(app);
  if (!compiled)
    return out;
  const auto name_of = [&](function_id f) { return app.functions[f].name; };
  std::string partial;
  size_t partial_count = 0;
  for (size_t c = 0; c < app.chains.size(); ++c) {
    const auto& ch = app.chains[c];
    const auto id = static_cast<chain_id>(c);
    // Topics routed from each function of this chain, and whether it has a "*" fallback.
    std::map<function_id, std::vector<std::string>> topics;
    std::map<function_id, bool> fallback;
    std::map<function_id, std::vector<function_id>> next;
    for (const auto& r : compiled->rules) {
      if (r.chain != id)
        continue;
      if (r.topic == any_topic)
        fallback[r.from] = true;
      else
        topics[r.from].push_back(r.topic);
      if (r.to != end_of_chain)
        next[r.from].push_back(r.to);
    }
    // Only what a request can reach from the head matters.
    std::vector<function_id> reach{compiled->heads[c]};
    std::set<function_id> seen{compiled->heads[c]};
    for (size_t i = 0; i < reach.size(); ++i)
      for (auto to : next[reach[i]])
        if (seen.insert(to).second)
          reach.push_back(to);
    for (auto f : reach) {
      if (f == no_function || f >= app.functions.size() || fallback[f])
        continue;
      const auto& t = topics[f];
      if (t.empty()) {
        out.warnings.push_back(ch.where.prefix() + "warning: chain '" + ch.name +
                               "': no route leads on from function '" + name_of(f) +
                               "': every request that reaches it fails with 502 (add `{ from: " +
                               name_of(f) + ", topic: \"*\", to: end }` or a route to the next "
                               "function)");
        continue;
      }
      std::string list;
      for (const auto& topic : t)
        list += (list.empty() ? "" : ", ") + topic;
      partial += (partial.empty() ? "" : "; ") + std::string("'") + name_of(f) + "' in chain '" +
                 ch.name + "' (" + list + ")";
      partial_count++;
    }
  }
  if (partial_count)
    out.note = "note: " + std::to_string(partial_count) +
               " function(s) route only the topics listed for them, with no \"*\" route: " +
               partial + ". A topic such a function sets (or keeps) that is not listed fails the "
               "request with 502; a `{ from: F, topic: \"*\", to: ... }` route catches the rest.";
  return out;
}

routing_mode effective_routing(const app_spec& app, bool broker_default) {
  if (app.routing == "broker")
    return routing_mode::broker;
  if (app.routing == "direct")
    return routing_mode::direct;
  return broker_default ? routing_mode::broker : routing_mode::direct;
}

function_id find_function(const app_spec& app, const std::string& name) {
  for (size_t i = 0; i < app.functions.size(); ++i)
    if (app.functions[i].name == name)
      return static_cast<function_id>(i);
  return no_function;
}

namespace {

std::string known_functions(const app_spec& app) {
  std::string out;
  for (const auto& f : app.functions)
    out += (out.empty() ? "" : ", ") + f.name;
  return out.empty() ? "none declared" : out;
}

} // namespace

expected<compiled_app> compile(const app_spec& app) {
  // The rules every key obeys, as the file reader applies them key by key: an app built in C++
  // meets the same ones here.
  if (auto valid = validate(app); !valid)
    return valid.err();
  if (app.functions.empty())
    return make_error(app.transport_where.prefix() + "app '" + app.name +
                      "' declares no functions");
  if (app.functions.size() >= end_of_chain)
    return make_error("too many functions (at most " + std::to_string(end_of_chain - 1) + ")");
  if (app.chains.empty())
    return make_error("app '" + app.name + "' declares no chains");
  if (!app.routing.empty() && app.routing != "direct" && app.routing != "broker")
    return make_error(app.routing_where.prefix() + "routing: expected 'direct' or 'broker', got '" +
                      app.routing + "'");
  {
    std::set<std::string> adapters, chains;
    for (const auto& a : app.adapters)
      if (!adapters.insert(a.name).second)
        return make_error(a.where.prefix() + "adapter '" + a.name + "' is declared twice");
    for (const auto& c : app.chains) {
      chains.insert(c.name);
      if (!c.adapter.empty() && !adapters.count(c.adapter))
        return make_error(c.where.prefix() + "chain '" + c.name + "': adapter '" + c.adapter +
                          "' is not declared under `adapters:`");
    }
    for (const auto& s : app.mqtt.subscriptions) {
      if (!chains.count(s.chain))
        return make_error(s.where.prefix() + "mqtt subscription '" + s.filter + "': no chain named '" +
                          s.chain + "'");
      if (!s.adapter.empty() && !adapters.count(s.adapter))
        return make_error(s.where.prefix() + "mqtt subscription '" + s.filter + "': adapter '" +
                          s.adapter + "' is not declared under `adapters:`");
    }
  }
  std::set<std::string> names;
  for (const auto& f : app.functions) {
    if (f.name.empty())
      return make_error(f.where.prefix() + "function without a name");
    if (f.name == "end")
      return make_error(f.where.prefix() + "'end' is reserved (it names the end of a chain)");
    if (!names.insert(f.name).second)
      return make_error(f.where.prefix() + "function '" + f.name + "' is declared twice");
    if (f.min_instances < 1 && app.autoscaling.policy.name == "fixed")
      return make_error(f.where.prefix() + "function '" + f.name +
                        "': min_instances 0 (scale to zero) needs an autoscaler "
                        "(policies.autoscaler: kpa, mu or lass); with fixed scaling it must be "
                        "at least 1");
    if (f.max_instances < 1)
      return make_error(f.where.prefix() + "function '" + f.name +
                        "': max_instances must be at least 1");
    if (f.max_instances < f.min_instances)
      return make_error(f.where.prefix() + "function '" + f.name +
                        "': max_instances must be >= min_instances");
    if (f.concurrency < 1)
      return make_error(f.where.prefix() + "function '" + f.name +
                        "': concurrency must be at least 1");
  }
  std::set<std::string> node_names;
  for (const auto& n : app.nodes) {
    if (n.name.empty())
      return make_error(n.where.prefix() + "node without a name");
    if (!node_names.insert(n.name).second)
      return make_error(n.where.prefix() + "node '" + n.name + "' is declared twice");
  }
  if (!app.nodes.empty())
    for (const auto& f : app.functions) {
      bool fits = false;
      for (const auto& n : app.nodes) {
        const double cores = n.cpus.empty() ? 1e9 : static_cast<double>(n.cpus.size());
        fits = fits || (f.cpu <= cores + 1e-9 && (n.memory == 0 || f.memory <= n.memory));
      }
      if (!fits)
        return make_error(f.where.prefix() + "function '" + f.name +
                          "': one instance (cpu " + std::to_string(f.cpu) + ", memory " +
                          std::to_string(f.memory >> 20) + " MiB) fits on no node");
    }
  compiled_app out;
  std::set<std::string> chain_names;
  std::set<std::pair<std::string, std::string>> bindings;
  for (size_t c = 0; c < app.chains.size(); ++c) {
    const auto& ch = app.chains[c];
    const auto id = static_cast<chain_id>(c);
    const std::string at = ch.where.prefix() + "chain '" + ch.name + "': ";
    if (ch.name.empty())
      return make_error(ch.where.prefix() + "chain without a name");
    if (!chain_names.insert(ch.name).second)
      return make_error(at + "declared twice");
    if (ch.http.path.empty()) {
      // No HTTP route: only an MQTT subscription can start the chain.
      const bool subscribed =
        std::any_of(app.mqtt.subscriptions.begin(), app.mqtt.subscriptions.end(),
                    [&](const mqtt_subscription& s) { return s.chain == ch.name; });
      if (!subscribed)
        return make_error(at + "nothing starts it: give it an http: {method, path} or name it in an "
                               "mqtt subscription");
    } else {
      if (ch.http.path[0] != '/')
        return make_error(at + "http.path must start with '/' (got '" + ch.http.path + "')");
      if (ch.http.path == "/healthz" || ch.http.path == "/metrics")
        return make_error(at + "http.path " + ch.http.path + " is reserved by the gateway");
      if (!bindings.insert({ch.http.method, ch.http.path}).second)
        return make_error(at + ch.http.method + " " + ch.http.path +
                          " is already bound to another chain");
    }
    if (ch.pool.buffers < 1)
      return make_error(at + "pool.buffers must be at least 1");
    if (ch.pool.buffer_size < 1)
      return make_error(at + "pool.buffer_size must be at least 1 byte");
    if (ch.timeout_ms < 1)
      return make_error(at + "timeout must be positive");
    if (ch.functions.empty() && ch.routes.empty())
      return make_error(at + "needs `functions:` (a linear chain) or `routes:`");

    std::vector<function_id> seq;
    for (const auto& name : ch.functions) {
      auto f = find_function(app, name);
      if (f == no_function)
        return make_error(at + "unknown function '" + name + "' (declared: " +
                          known_functions(app) + ")");
      seq.push_back(f);
    }
    function_id head = seq.empty() ? no_function : seq.front();
    if (!ch.head.empty()) {
      head = find_function(app, ch.head);
      if (head == no_function)
        return make_error(at + "unknown head function '" + ch.head + "' (declared: " +
                          known_functions(app) + ")");
    }
    if (head == no_function && !ch.routes.empty()) {
      // Only routes: the head is the `from` of the first route.
      head = find_function(app, ch.routes.front().from);
    }
    out.heads.push_back(head);
    // Explicit routes first so they can override the linear sugar's default for a topic.
    bool reaches_end = false;
    for (const auto& r : ch.routes) {
      const std::string rat = r.where.prefix() + "chain '" + ch.name + "': route: ";
      auto from = find_function(app, r.from);
      if (from == no_function)
        return make_error(rat + "unknown function '" + r.from + "' in `from` (declared: " +
                          known_functions(app) + ")");
      function_id to = end_of_chain;
      if (r.to != "end") {
        to = find_function(app, r.to);
        if (to == no_function)
          return make_error(rat + "unknown function '" + r.to + "' in `to` (declared: " +
                            known_functions(app) + "; or 'end')");
      }
      if (r.topic.empty())
        return make_error(rat + "empty topic (use \"*\" for the default route)");
      reaches_end = reaches_end || to == end_of_chain;
      out.rules.push_back(route_table::rule{id, from, r.topic, to});
    }
    auto linear = route_table::linear(id, seq);
    for (auto& rule : linear) {
      bool overridden = false;
      for (const auto& r : ch.routes)
        overridden = overridden || (find_function(app, r.from) == rule.from && r.topic == "*");
      if (!overridden)
        out.rules.push_back(rule);
    }
    if (!seq.empty())
      reaches_end = true;
    if (!reaches_end)
      return make_error(at + "no route leads to 'end': requests could never complete");
  }
  // Duplicate rules are reported by the route table itself.
  auto table = route_table::build(out.heads, out.rules);
  if (!table)
    return make_error("routes: " + table.err().message);
  return out;
}

} // namespace spry::core

namespace spry::core {

std::vector<function_id> functions_of_chain(const app_spec& app, chain_id c) {
  std::vector<function_id> out;
  if (c >= app.chains.size())
    return out;
  auto add = [&](const std::string& name) {
    const auto f = find_function(app, name);
    if (f != no_function && std::find(out.begin(), out.end(), f) == out.end())
      out.push_back(f);
  };
  const auto& chain = app.chains[c];
  if (!chain.head.empty())
    add(chain.head);
  for (const auto& name : chain.functions)
    add(name);
  for (const auto& r : chain.routes) {
    add(r.from);
    add(r.to);
  }
  return out;
}

} // namespace spry::core
