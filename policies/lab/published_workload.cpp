#include "policies/lab/published_workload.hpp"

#include "core/yaml_walker.hpp"

#include <map>

namespace spry::policies::lab {

core::expected<published_workload> read_published_workload(const std::string& file) {
  try {
    core::yaml_walker r(file);
    const YAML::Node root = core::yaml_walker::load_file(file);
    r.only_keys(root, "workload", {"functions", "chains", "load", "ingress"});
    published_workload w;
    if (!root["functions"])
      r.fail(root, "workload: missing 'functions'");
    r.expect_seq(root["functions"], "functions");
    std::map<uint32_t, uint32_t> index_of;
    for (const auto& f : root["functions"]) {
      r.only_keys(f, "functions[]", {"id", "name", "service_time_ms"});
      for (const char* k : {"id", "name", "service_time_ms"})
        if (!f[k])
          r.fail(f, std::string("functions[]: missing '") + k + "'");
      published_workload::function fn;
      fn.id = static_cast<uint32_t>(r.count(f["id"], "functions[].id", 0, UINT32_MAX));
      fn.name = r.str(f["name"], "functions[].name");
      fn.service_time_ms = r.number(f["service_time_ms"], "functions[].service_time_ms", 1e-6, 1e9);
      if (!index_of.emplace(fn.id, static_cast<uint32_t>(w.functions.size())).second)
        r.fail(f["id"], "functions[].id: " + std::to_string(fn.id) + " is used twice");
      w.functions.push_back(std::move(fn));
    }
    if (!root["chains"])
      r.fail(root, "workload: missing 'chains'");
    r.expect_map(root["chains"], "chains");
    for (const auto& kv : root["chains"]) {
      const std::string name = kv.first.as<std::string>();
      r.expect_seq(kv.second, "chains." + name);
      std::vector<uint32_t> hops;
      for (const auto& id : kv.second) {
        const auto v = static_cast<uint32_t>(r.count(id, "chains." + name, 0, UINT32_MAX));
        auto i = index_of.find(v);
        if (i == index_of.end())
          r.fail(id, "chains." + name + ": no function has id " + std::to_string(v));
        hops.push_back(i->second);
      }
      if (hops.empty())
        r.fail(kv.second, "chains." + name + ": a chain needs at least one function");
      w.chains.emplace_back(name, std::move(hops));
    }
    if (const auto load = root["load"]) {
      r.expect_map(load, "load");
      // The load blocks describe different patterns in free form; read the keys that define
      // traffic and keep the rest as documentation.
      if (load["period_s"])
        w.period_s = r.number(load["period_s"], "load.period_s", 1e-3, 1e9);
      if (load["burst_requests"])
        w.burst_requests =
          static_cast<uint32_t>(r.count(load["burst_requests"], "load.burst_requests", 1, 1e9));
      if (load["duration_s"])
        w.duration_s = r.number(load["duration_s"], "load.duration_s", 0, 1e9);
      if (load["generator"])
        w.closed_loop = r.str(load["generator"], "load.generator").find("closed-loop") !=
                        std::string::npos;
      if (load["published"])
        w.published = r.str(load["published"], "load.published");
      if ((w.period_s > 0) != (w.burst_requests > 0))
        r.fail(load, "load: period_s and burst_requests go together");
    }
    return w;
  } catch (const core::config_error& e) {
    return core::make_error(e.message);
  } catch (const YAML::Exception& e) {
    return core::make_error(file + ": " + e.what());
  }
}

} // namespace spry::policies::lab
