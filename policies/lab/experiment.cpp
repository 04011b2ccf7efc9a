#include "policies/lab/experiment.hpp"

#include "core/yaml_walker.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

namespace spry::policies::lab {

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names{
    "p50_ms",         "p95_ms",       "p99_ms",         "mean_ms",     "max_ms",
    "slo_violation_rate", "median_chain_slo_violation_rate", "instance_seconds", "cpu_seconds", "mean_instances", "cold_starts",
    "jain_fairness",  "unplaced",     "unfinished",     "activator_waits", "slo_attainment",
    "offered_load"};
  return names;
}

double metric_value(const run_result& r, const std::string& n) {
  if (n == "p50_ms") return r.p50_ms;
  if (n == "p95_ms") return r.p95_ms;
  if (n == "p99_ms") return r.p99_ms;
  if (n == "mean_ms") return r.mean_ms;
  if (n == "max_ms") return r.max_ms;
  if (n == "slo_violation_rate") return r.slo_violation_rate;
  if (n == "median_chain_slo_violation_rate") return r.median_chain_slo_violation_rate;
  if (n == "instance_seconds") return r.instance_seconds;
  if (n == "cpu_seconds") return r.cpu_seconds;
  if (n == "mean_instances") return r.mean_instances;
  if (n == "cold_starts") return static_cast<double>(r.cold_starts);
  if (n == "jain_fairness") return r.jain_fairness;
  if (n == "unplaced") return r.unplaced;
  if (n == "unfinished") return static_cast<double>(r.unfinished);
  if (n == "activator_waits") return static_cast<double>(r.activator_waits);
  if (n == "slo_attainment") return 1 - r.slo_violation_rate;
  if (n == "offered_load") return r.offered_load;
  return 0;
}

namespace {

using kind_t = workload_spec::kind_t;

const std::vector<std::pair<std::string, kind_t>>& kinds() {
  static const std::vector<std::pair<std::string, kind_t>> k{
    {"poisson", kind_t::poisson},       {"on_off", kind_t::on_off},
    {"mmpp", kind_t::mmpp},             {"diurnal", kind_t::diurnal},
    {"periodic_burst", kind_t::periodic_burst}, {"published", kind_t::published},
    {"azure", kind_t::azure},           {"azure_synthetic", kind_t::azure_synthetic},
    {"mix", kind_t::mix}};
  return k;
}

std::vector<std::string> keys_of(kind_t k) {
  std::vector<std::string> keys{"name", "kind", "function_defaults", "shapes", "service_ms_range"};
  auto add = [&](std::initializer_list<const char*> more) { keys.insert(keys.end(), more.begin(), more.end()); };
  switch (k) {
    case kind_t::poisson: add({"functions", "rate", "total_rate", "zipf_s"}); break;
    case kind_t::on_off: add({"functions", "rate_on", "rate_off", "on_s", "off_s"}); break;
    case kind_t::mmpp: add({"functions", "rates", "sojourn_s"}); break;
    case kind_t::diurnal: add({"functions", "rate", "amplitude", "period_s", "random_phase"}); break;
    case kind_t::periodic_burst: add({"functions", "period_s", "burst_requests", "spread_s"}); break;
    case kind_t::published: add({"file", "rate", "spread_s", "rate_on", "rate_off", "on_s", "off_s"}); break;
    case kind_t::azure: add({"file", "max_functions", "start_minute", "rate_scale"}); break;
    case kind_t::azure_synthetic: add({"functions", "trace_seed", "start_minute", "rate_scale"}); break;
    case kind_t::mix: keys = {"name", "kind", "function_defaults", "parts"}; break;
  }
  return keys;
}

class parser {
public:
  parser(std::string file, const policy_registries& reg)
    : r_(file), dir_(std::filesystem::path(file).parent_path()), reg_(reg) {}

  experiment read(const YAML::Node& root);

private:
  service_distribution read_service(const YAML::Node& n, service_distribution s, const std::string& path) const;
  function_spec read_function_defaults(const YAML::Node& n, function_spec f, const std::string& path) const;
  policy_spec read_policy(const YAML::Node& n) const;
  template <class Registry>
  void read_part(const YAML::Node& n, const std::string& path, const Registry& reg,
                 std::string& name, parameters& params) const;
  workload_spec read_workload(const YAML::Node& n, const function_spec& defaults,
                              double duration_s, int depth = 0) const;
  claim_spec read_claim(const YAML::Node& n, const experiment& e) const;
  std::vector<double> read_numbers(const YAML::Node& n, const std::string& path, double lo,
                                   double hi) const;
  std::string resolve(const std::string& f) const {
    const std::filesystem::path p(f);
    return p.is_absolute() ? f : (dir_ / p).string();
  }

  core::yaml_walker r_;
  std::filesystem::path dir_;
  const policy_registries& reg_;
};

std::vector<double> parser::read_numbers(const YAML::Node& n, const std::string& path, double lo,
                                         double hi) const {
  r_.expect_seq(n, path);
  std::vector<double> v;
  for (const auto& x : n)
    v.push_back(r_.number(x, path + "[]", lo, hi));
  if (v.empty())
    r_.fail(n, path + ": the list is empty");
  return v;
}

service_distribution parser::read_service(const YAML::Node& n, service_distribution s,
                                          const std::string& path) const {
  r_.only_keys(n, path, {"distribution", "mean_ms", "cv"});
  if (n["distribution"]) {
    const std::string d = r_.str(n["distribution"], path + ".distribution");
    if (d == "exponential")
      s.shape = service_distribution::kind::exponential;
    else if (d == "deterministic")
      s.shape = service_distribution::kind::deterministic;
    else if (d == "lognormal")
      s.shape = service_distribution::kind::lognormal;
    else
      r_.fail(n["distribution"], path + ".distribution: '" + d +
                                   "' is not one of exponential, deterministic, lognormal");
  }
  if (n["mean_ms"])
    s.mean_s = r_.number(n["mean_ms"], path + ".mean_ms", 1e-6, 1e9) / 1e3;
  if (n["cv"])
    s.cv = r_.number(n["cv"], path + ".cv", 0, 100);
  return s;
}

function_spec parser::read_function_defaults(const YAML::Node& n, function_spec f,
                                             const std::string& path) const {
  r_.only_keys(n, path,
               {"cpu", "memory_mb", "concurrency", "slo_ms", "slo_service_multiple",
                "slo_percentile", "cold_start_s", "initial_instances", "weight", "service"});
  if (n["cpu"]) f.cpu = r_.number(n["cpu"], path + ".cpu", 1e-3, 1e6);
  if (n["memory_mb"]) f.memory_mb = r_.number(n["memory_mb"], path + ".memory_mb", 0, 1e9);
  if (n["concurrency"])
    f.concurrency = static_cast<uint32_t>(r_.count(n["concurrency"], path + ".concurrency", 1, 100000));
  if (n["slo_ms"]) f.slo_s = r_.number(n["slo_ms"], path + ".slo_ms", 1e-3, 1e9) / 1e3;
  if (n["slo_service_multiple"])
    f.slo_service_multiple =
      r_.number(n["slo_service_multiple"], path + ".slo_service_multiple", 1, 1e6);
  if (n["slo_percentile"])
    f.slo_percentile = r_.number(n["slo_percentile"], path + ".slo_percentile", 0.5, 0.99999);
  if (n["cold_start_s"]) f.cold_start_s = r_.number(n["cold_start_s"], path + ".cold_start_s", 0, 1e6);
  if (n["initial_instances"])
    f.initial_instances =
      static_cast<uint32_t>(r_.count(n["initial_instances"], path + ".initial_instances", 0, 100000));
  if (n["weight"]) f.weight = r_.number(n["weight"], path + ".weight", 1e-6, 1e6);
  if (n["service"]) f.service = read_service(n["service"], f.service, path + ".service");
  return f;
}

template <class Registry>
void parser::read_part(const YAML::Node& n, const std::string& path, const Registry& reg,
                       std::string& name, parameters& params) const {
  // Constructed, never assigned: assigning a YAML::Node overwrites the node it refers to.
  const YAML::Node name_node = n.IsMap() ? n["name"] : n;
  if (n.IsMap()) {
    r_.only_keys(n, path, {"name", "params"});
    if (!n["name"])
      r_.fail(n, path + ": missing 'name'");
    if (n["params"]) {
      r_.expect_map(n["params"], path + ".params");
      for (const auto& kv : n["params"])
        params.set(kv.first.as<std::string>(), r_.str(kv.second, path + ".params." + kv.first.as<std::string>()));
    }
  }
  name = r_.str(name_node, path);
  // Build it once now: an unknown name or a bad parameter is reported here, with its line.
  auto made = reg.create(name, params);
  if (!made)
    r_.fail(n, path + ": " + made.err().message);
}

policy_spec parser::read_policy(const YAML::Node& n) const {
  r_.only_keys(n, "policies[]", {"name", "load_balancer", "autoscaler", "placement"});
  policy_spec p;
  if (!n["name"])
    r_.fail(n, "policies[]: missing 'name'");
  p.name = r_.str(n["name"], "policies[].name");
  const std::string path = "policies." + p.name;
  if (n["load_balancer"]) {
    p.load_balancer = r_.str(n["load_balancer"], path + ".load_balancer");
    auto lb = reg_.load_balancers.create(p.load_balancer);
    if (!lb)
      r_.fail(n["load_balancer"], path + ".load_balancer: " + lb.err().message);
  }
  if (n["autoscaler"])
    read_part(n["autoscaler"], path + ".autoscaler", reg_.autoscalers, p.autoscaler,
              p.autoscaler_params);
  if (n["placement"])
    read_part(n["placement"], path + ".placement", reg_.placements, p.placement,
              p.placement_params);
  return p;
}

workload_spec parser::read_workload(const YAML::Node& n, const function_spec& defaults,
                                    double duration_s, int depth) const {
  r_.expect_map(n, "workloads[]");
  if (!n["name"])
    r_.fail(n, "workloads[]: missing 'name'");
  if (!n["kind"])
    r_.fail(n, "workloads[]: missing 'kind'");
  workload_spec w;
  w.name = r_.str(n["name"], "workloads[].name");
  const std::string path = "workloads." + w.name;
  const std::string kind = r_.str(n["kind"], path + ".kind");
  bool found = false;
  std::string known;
  for (const auto& [k, v] : kinds()) {
    known += (known.empty() ? "" : ", ") + k;
    if (k == kind) {
      w.kind = v;
      found = true;
    }
  }
  if (!found)
    r_.fail(n["kind"], path + ".kind: unknown workload kind '" + kind + "' (available: " + known + ")");
  r_.only_keys(n, path, keys_of(w.kind));

  w.defaults = defaults;
  if (n["function_defaults"])
    w.defaults = read_function_defaults(n["function_defaults"], defaults, path + ".function_defaults");
  if (n["shapes"]) {
    r_.expect_seq(n["shapes"], path + ".shapes");
    for (const auto& s : n["shapes"]) {
      r_.only_keys(s, path + ".shapes[]", {"cpu", "memory_mb", "weight"});
      function_shape sh{w.defaults.cpu, w.defaults.memory_mb, w.defaults.weight};
      if (s["cpu"]) sh.cpu = r_.number(s["cpu"], path + ".shapes[].cpu", 1e-3, 1e6);
      if (s["memory_mb"]) sh.memory_mb = r_.number(s["memory_mb"], path + ".shapes[].memory_mb", 0, 1e9);
      if (s["weight"]) sh.weight = r_.number(s["weight"], path + ".shapes[].weight", 1e-6, 1e6);
      w.shapes.push_back(sh);
    }
  }
  if (n["service_ms_range"]) {
    auto v = read_numbers(n["service_ms_range"], path + ".service_ms_range", 1e-6, 1e9);
    if (v.size() != 2 || v[0] > v[1])
      r_.fail(n["service_ms_range"], path + ".service_ms_range: expected [low, high] with low <= high");
    w.service_ms_lo = v[0];
    w.service_ms_hi = v[1];
  }
  if (n["functions"])
    w.functions = static_cast<uint32_t>(r_.count(n["functions"], path + ".functions", 1, 1000000));
  auto num = [&](const char* key, double& field, double lo, double hi) {
    if (n[key])
      field = r_.number(n[key], path + "." + key, lo, hi);
  };

  switch (w.kind) {
    case kind_t::mix: {
      if (depth > 0)
        r_.fail(n["kind"], path + ".kind: a mix cannot contain another mix");
      if (!n["parts"])
        r_.fail(n, path + ": a mix needs 'parts' (a list of workloads)");
      r_.expect_seq(n["parts"], path + ".parts");
      std::set<std::string> names;
      for (const auto& part : n["parts"]) {
        w.parts.push_back(read_workload(part, w.defaults, duration_s, depth + 1));
        if (!names.insert(w.parts.back().name).second)
          r_.fail(part["name"], path + ".parts: the name '" + w.parts.back().name + "' is used twice");
      }
      if (w.parts.empty())
        r_.fail(n["parts"], path + ".parts: the list is empty");
      w.functions = 0;
      for (const auto& part : w.parts)
        w.functions += part.functions;
      break;
    }
    case kind_t::poisson:
      num("rate", w.rate, 0, 1e9);
      num("total_rate", w.total_rate, 0, 1e9);
      num("zipf_s", w.zipf_s, 0, 10);
      break;
    case kind_t::on_off:
    case kind_t::published: {
      double on = 10, off = 0, on_s = 20, off_s = 180;
      num("rate_on", on, 0, 1e9);
      num("rate_off", off, 0, 1e9);
      num("on_s", on_s, 1e-3, 1e9);
      num("off_s", off_s, 1e-3, 1e9);
      if (w.kind == kind_t::published && !n["rate_on"])
        on = 1; // motion detection: a sensor event a second while someone moves
      w.rates = {on, off};
      w.sojourn_s = {on_s, off_s};
      if (w.kind == kind_t::on_off)
        break;
      if (!n["file"])
        r_.fail(n, path + ": missing 'file' (a published workload definition)");
      w.file = resolve(r_.str(n["file"], path + ".file"));
      auto pw = read_published_workload(w.file);
      if (!pw)
        r_.fail(n["file"], path + ".file: " + pw.err().message);
      w.published = std::make_shared<published_workload>(std::move(*pw));
      w.burst_period_s = w.published->period_s;
      w.burst_requests = w.published->burst_requests;
      num("spread_s", w.burst_spread_s, 0, 1e9);
      w.rate = 0;
      num("rate", w.rate, 0, 1e9);
      if (w.published->closed_loop && w.rate <= 0)
        r_.fail(n, path + ": " + w.file +
                     " describes closed-loop users; give the open-loop request rate as 'rate' "
                     "(requests/s)");
      break;
    }
    case kind_t::mmpp:
      if (!n["rates"] || !n["sojourn_s"])
        r_.fail(n, path + ": mmpp needs 'rates' and 'sojourn_s' (one per state)");
      w.rates = read_numbers(n["rates"], path + ".rates", 0, 1e9);
      w.sojourn_s = read_numbers(n["sojourn_s"], path + ".sojourn_s", 1e-3, 1e9);
      if (w.rates.size() != w.sojourn_s.size())
        r_.fail(n["sojourn_s"], path + ".sojourn_s: needs one entry per rate");
      break;
    case kind_t::diurnal:
      num("rate", w.rate, 0, 1e9);
      num("amplitude", w.amplitude, 0, 1);
      num("period_s", w.period_s, 1, 1e9);
      if (n["random_phase"])
        w.random_phase = r_.boolean(n["random_phase"], path + ".random_phase");
      break;
    case kind_t::periodic_burst:
      if (!n["period_s"] || !n["burst_requests"])
        r_.fail(n, path + ": periodic_burst needs 'period_s' and 'burst_requests'");
      num("period_s", w.burst_period_s, 1e-3, 1e9);
      w.burst_requests = static_cast<uint32_t>(r_.count(n["burst_requests"], path + ".burst_requests", 1, 1e9));
      num("spread_s", w.burst_spread_s, 0, 1e9);
      break;
    case kind_t::azure:
    case kind_t::azure_synthetic: {
      double start = 0, max_functions = 0;
      num("start_minute", start, 0, azure_trace::minutes - 1);
      num("rate_scale", w.rate_scale, 0, 1e6);
      if (start != std::floor(start))
        r_.fail(n["start_minute"], path + ".start_minute: expected a whole minute");
      w.start_minute = static_cast<uint32_t>(start);
      if (w.start_minute * 60.0 + duration_s > azure_trace::minutes * 60.0)
        r_.fail(n, path + ": start_minute + duration_s run past the trace's 1440 minutes");
      if (w.kind == kind_t::azure) {
        if (!n["file"])
          r_.fail(n, path + ": missing 'file' (an Azure Functions per-minute trace CSV)");
        num("max_functions", max_functions, 0, 1e7);
        w.file = resolve(r_.str(n["file"], path + ".file"));
        auto t = read_azure_trace(w.file, static_cast<size_t>(max_functions));
        if (!t)
          r_.fail(n["file"], path + ".file: " + t.err().message);
        w.trace = std::make_shared<azure_trace>(std::move(*t));
      } else {
        double trace_seed = 1;
        num("trace_seed", trace_seed, 0, 9e15);
        w.trace = std::make_shared<azure_trace>(
          synthesize_azure_trace(w.functions, static_cast<uint64_t>(trace_seed)));
      }
      w.functions = static_cast<uint32_t>(w.trace->functions.size());
      break;
    }
  }
  return w;
}

claim_spec parser::read_claim(const YAML::Node& n, const experiment& e) const {
  r_.only_keys(n, "claims[]",
               {"name", "metric", "policy", "baseline", "workload", "published_change", "direction",
                "published"});
  for (const char* k : {"name", "metric", "policy", "baseline"})
    if (!n[k])
      r_.fail(n, std::string("claims[]: missing '") + k + "'");
  // A claim has a published size (published_change, whose sign is its direction) or, when the
  // paper gives no figure, only a direction.
  if (!n["published_change"] == !n["direction"])
    r_.fail(n, "claims[]: give exactly one of 'published_change' (a relative change, e.g. -0.62) "
               "and 'direction' (increase or decrease, when no figure is published)");
  claim_spec c;
  c.name = r_.str(n["name"], "claims[].name");
  const std::string path = "claims." + c.name;
  c.metric = r_.str(n["metric"], path + ".metric");
  const auto& names = metric_names();
  if (std::find(names.begin(), names.end(), c.metric) == names.end()) {
    std::string list;
    for (const auto& m : names)
      list += (list.empty() ? "" : ", ") + m;
    r_.fail(n["metric"], path + ".metric: unknown metric '" + c.metric + "' (available: " + list + ")");
  }
  auto policy = [&](const char* key) {
    const std::string p = r_.str(n[key], path + "." + key);
    for (const auto& x : e.policies)
      if (x.name == p)
        return p;
    r_.fail(n[key], path + "." + key + ": no policy named '" + p + "' in this experiment");
  };
  c.policy = policy("policy");
  c.baseline = policy("baseline");
  if (n["workload"]) {
    c.workload = r_.str(n["workload"], path + ".workload");
    bool ok = false;
    for (const auto& w : e.workloads)
      ok = ok || w.name == c.workload;
    if (!ok)
      r_.fail(n["workload"], path + ".workload: no workload named '" + c.workload + "'");
  }
  if (n["published_change"]) {
    c.published_change = r_.number(n["published_change"], path + ".published_change", -1, 1e6);
    if (c.published_change == 0)
      r_.fail(n["published_change"], path + ".published_change: 0 claims no change; a claim needs "
                                          "a direction");
    c.has_published_size = true;
  } else {
    const std::string d = r_.str(n["direction"], path + ".direction");
    if (d != "increase" && d != "decrease")
      r_.fail(n["direction"], path + ".direction: '" + d + "' is neither increase nor decrease");
    c.published_change = d == "increase" ? 1 : -1;
    c.has_published_size = false;
  }
  if (n["published"])
    c.published = r_.str(n["published"], path + ".published");
  return c;
}

experiment parser::read(const YAML::Node& root) {
  r_.only_keys(root, "experiment",
               {"name", "description", "duration_s", "warmup_s", "tick_s", "drain_limit_s", "seeds",
                "cluster", "function_defaults", "policies", "workloads", "claims", "output"});
  experiment e;
  e.file = r_.file();
  if (!root["name"])
    r_.fail(root, "experiment: missing 'name'");
  e.name = r_.str(root["name"], "name");
  for (char c : e.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      r_.fail(root["name"], "name: use letters, digits, '-', '_' and '.' only (it names the output)");
  if (root["description"])
    e.description = r_.str(root["description"], "description");
  if (root["duration_s"]) e.options.duration_s = r_.number(root["duration_s"], "duration_s", 1e-3, 1e8);
  if (root["warmup_s"]) e.options.warmup_s = r_.number(root["warmup_s"], "warmup_s", 0, 1e8);
  if (root["tick_s"]) e.options.tick_s = r_.number(root["tick_s"], "tick_s", 1e-3, 1e6);
  if (root["drain_limit_s"]) e.options.drain_limit_s = r_.number(root["drain_limit_s"], "drain_limit_s", 0, 1e8);
  if (e.options.warmup_s >= e.options.duration_s)
    r_.fail(root["warmup_s"], "warmup_s: must be shorter than duration_s");

  if (!root["seeds"]) {
    e.seeds = {1};
  } else if (root["seeds"].IsScalar()) {
    const uint64_t n = r_.count(root["seeds"], "seeds", 1, 10000);
    for (uint64_t s = 1; s <= n; ++s)
      e.seeds.push_back(s);
  } else {
    r_.expect_seq(root["seeds"], "seeds");
    for (const auto& s : root["seeds"])
      e.seeds.push_back(r_.count(s, "seeds[]", 0, UINT64_MAX / 2));
    if (e.seeds.empty())
      r_.fail(root["seeds"], "seeds: the list is empty");
  }

  if (!root["cluster"])
    r_.fail(root, "experiment: missing 'cluster'");
  r_.only_keys(root["cluster"], "cluster", {"nodes"});
  const YAML::Node nodes = root["cluster"]["nodes"];
  if (!nodes)
    r_.fail(root["cluster"], "cluster: missing 'nodes'");
  r_.expect_seq(nodes, "cluster.nodes");
  for (const auto& n : nodes) {
    r_.only_keys(n, "cluster.nodes[]", {"count", "cpu", "memory_mb", "speed"});
    node_spec s;
    uint64_t count = 1;
    if (n["count"]) count = r_.count(n["count"], "cluster.nodes[].count", 1, 100000);
    if (n["cpu"]) s.cpu = r_.number(n["cpu"], "cluster.nodes[].cpu", 1e-3, 1e6);
    if (n["memory_mb"]) s.memory_mb = r_.number(n["memory_mb"], "cluster.nodes[].memory_mb", 0, 1e12);
    if (n["speed"]) s.speed = r_.number(n["speed"], "cluster.nodes[].speed", 1e-3, 1e3);
    e.nodes.insert(e.nodes.end(), count, s);
  }
  if (e.nodes.empty())
    r_.fail(nodes, "cluster.nodes: the list is empty");

  function_spec defaults;
  if (root["function_defaults"])
    defaults = read_function_defaults(root["function_defaults"], defaults, "function_defaults");

  std::set<std::string> seen;
  if (!root["policies"])
    r_.fail(root, "experiment: missing 'policies'");
  r_.expect_seq(root["policies"], "policies");
  for (const auto& p : root["policies"]) {
    e.policies.push_back(read_policy(p));
    if (!seen.insert(e.policies.back().name).second)
      r_.fail(p["name"], "policies: the name '" + e.policies.back().name + "' is used twice");
  }
  if (e.policies.empty())
    r_.fail(root["policies"], "policies: the list is empty");

  seen.clear();
  if (!root["workloads"])
    r_.fail(root, "experiment: missing 'workloads'");
  r_.expect_seq(root["workloads"], "workloads");
  for (const auto& w : root["workloads"]) {
    e.workloads.push_back(read_workload(w, defaults, e.options.duration_s));
    if (!seen.insert(e.workloads.back().name).second)
      r_.fail(w["name"], "workloads: the name '" + e.workloads.back().name + "' is used twice");
  }
  if (e.workloads.empty())
    r_.fail(root["workloads"], "workloads: the list is empty");

  if (root["claims"]) {
    r_.expect_seq(root["claims"], "claims");
    for (const auto& c : root["claims"])
      e.claims.push_back(read_claim(c, e));
  }
  if (root["output"]) {
    const auto o = root["output"];
    r_.only_keys(o, "output", {"plots", "format"});
    if (o["plots"]) e.plots = r_.boolean(o["plots"], "output.plots");
    if (o["format"]) {
      e.plot_format = r_.str(o["format"], "output.format");
      if (e.plot_format != "png" && e.plot_format != "svg")
        r_.fail(o["format"], "output.format: expected png or svg");
    }
  }
  return e;
}

} // namespace

namespace {

// One boundary for both entry points: every error a file can cause comes out as core::error.
template <class Load>
core::expected<experiment> parse_with(const std::string& file, const policy_registries& registries,
                                      Load&& load) {
  try {
    parser p(file, registries);
    return p.read(load());
  } catch (const core::config_error& e) {
    return core::make_error(e.message);
  } catch (const YAML::Exception& e) {
    // Conversions inside yaml-cpp (a key that is not a scalar, ...): still give the position.
    return core::make_error(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                            std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

} // namespace

core::expected<experiment> read_experiment(const std::string& file,
                                           const policy_registries& registries) {
  return parse_with(file, registries, [&] { return core::yaml_walker::load_file(file); });
}

core::expected<experiment> parse_experiment(const std::string& text, const std::string& file,
                                            const policy_registries& registries) {
  return parse_with(file, registries, [&] { return core::yaml_walker::load_text(text, file); });
}

} // namespace spry::policies::lab
