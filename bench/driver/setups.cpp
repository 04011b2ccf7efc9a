#include "bench/driver/setups.hpp"

#include "core/transport_registry.hpp"
#include "transports/register.hpp"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace spry::bench {

namespace fs = std::filesystem;

namespace {

const std::vector<setup>& known() {
  static const std::vector<setup> all = {
    {"local", "local", "", false, "none", "", "one process, instances are actors (floor)", ""},
    {"shm-skmsg", "shm-skmsg", "", false, "none", "", "shared memory + eBPF sk_msg, event-driven", ""},
    {"shm-dpdk", "shm-dpdk", "", false, "none", "",
     "shared memory + DPDK rings, polling while busy, asleep when idle (adaptive)", ""},
    {"shm-dpdk-yield", "shm-dpdk", "", false, "none", "",
     "shared memory + DPDK rings, polling, yielding the core between empty polls", "yield"},
    {"shm-dpdk-spin", "shm-dpdk", "", false, "none", "",
     "shared memory + DPDK rings, polling without ever yielding", "spin"},
    {"tcp", "tcp", "broker", true, "none", "",
     "Knative-like: HTTP per hop, broker, queue-proxy sidecars", ""},
    {"tcp-broker-sidecar", "tcp", "broker", true, "none", "",
     "Knative-like: HTTP per hop, broker, queue-proxy sidecars (same as tcp)", ""},
    {"tcp-broker", "tcp", "broker", false, "none", "", "HTTP per hop, broker, no sidecars", ""},
    {"tcp-direct", "tcp", "direct", false, "none", "", "HTTP per hop, direct, no sidecars", ""},
    {"tcp-nginx", "tcp", "direct", true, "nginx", "",
     "HTTP per hop through nginx, direct, queue-proxy sidecars", ""},
  };
  return all;
}

} // namespace

core::expected<setup> setup_named(const std::string& name) {
  const auto at = name.find('@');
  const std::string base = name.substr(0, at);
  for (auto s : known())
    if (s.name == base) {
      s.name = name;
      if (at != std::string::npos) {
        s.load_balancer = name.substr(at + 1);
        if (s.load_balancer.empty())
          return core::make_error("setup '" + name + "': nothing after '@' (a load balancer name)");
        s.description += ", load balancer " + s.load_balancer;
      }
      return s;
    }
  std::string list;
  for (const auto& s : known())
    list += (list.empty() ? "" : ", ") + s.name;
  return core::make_error("unknown setup '" + name + "' (known: " + list +
                          "; append @LOAD_BALANCER to change the policy)");
}

std::string unavailable_reason(const setup& s) {
  core::transport_registry reg;
  spry::transports::register_all(reg);
  const auto* entry = reg.find(s.transport);
  if (!entry)
    return "transport " + s.transport + " is not in this build (`spry transports` lists what is)";
  if (entry->missing_requirement)
    if (auto why = entry->missing_requirement(); !why.empty())
      return why;
  if (s.transport == "shm-skmsg" && geteuid() != 0)
    return "shm-skmsg loads an eBPF program: needs root (or CAP_BPF and CAP_NET_ADMIN)";
  if (s.front_end == "nginx" && !fs::exists("/usr/sbin/nginx"))
    return "nginx is not installed (scripts/setup installs it)";
  return {};
}

core::expected<std::string> write_setup_app(const std::string& app_file, const setup& s,
                                            const std::string& dir) {
  try {
    YAML::Node app = YAML::LoadFile(app_file);
    if (!app.IsMap())
      return core::make_error(app_file + ": not an app file (expected a mapping)");
    app["transport"] = s.transport;
    if (!s.routing.empty())
      app["routing"] = s.routing;
    if (s.transport == "tcp") {
      app["tcp"]["sidecar"] = s.sidecar ? "true" : "false";
      app["tcp"]["front_end"] = s.front_end;
    }
    if (!s.load_balancer.empty())
      app["policies"]["load_balancer"] = s.load_balancer;
    if (!s.dpdk_idle.empty()) {
      app["dpdk"]["idle"] = s.dpdk_idle;
      if (s.dpdk_idle != "adaptive")
        app["dpdk"].remove("spin_us"); // only an adaptive poller takes it
    }
    app["gateway"]["listen"] = "127.0.0.1:0";
    if (app["libraries"] && app["libraries"].IsSequence()) {
      const auto base = fs::absolute(fs::path(app_file)).parent_path();
      YAML::Node libs(YAML::NodeType::Sequence);
      for (const auto& l : app["libraries"]) {
        const fs::path p = l.as<std::string>();
        libs.push_back((p.is_absolute() ? p : base / p).lexically_normal().string());
      }
      app["libraries"] = libs;
    }
    YAML::Emitter out;
    out << app;
    std::string file = s.name;
    for (auto& c : file)
      if (c == '@' || c == '/')
        c = '_';
    const std::string path = (fs::path(dir) / (file + ".yaml")).string();
    std::ofstream(path) << "# written by spry bench for setup " << s.name << " from " << app_file
                        << "\n" << out.c_str() << "\n";
    return path;
  } catch (const YAML::Exception& e) {
    return core::make_error(app_file + ": " + e.what());
  }
}

core::expected<std::string> write_chain_length_app(const std::string& app_file, unsigned length,
                                                   const std::string& dir) {
  if (length < 1 || length > 64)
    return core::make_error("chain length " + std::to_string(length) + ": expected 1 to 64");
  try {
    YAML::Node app = YAML::LoadFile(app_file);
    YAML::Node chain = app["chains"] && app["chains"].IsSequence() && app["chains"].size() > 0
                         ? app["chains"][0]
                         : YAML::Node();
    if (!chain || !chain["functions"] || !chain["functions"].IsSequence() ||
        chain["functions"].size() == 0)
      return core::make_error(app_file + ": a chain-length sweep needs a first chain with a "
                              "`functions:` list");
    const std::string first = chain["functions"][0].as<std::string>();
    YAML::Node decl;
    for (const auto& f : app["functions"])
      if ((f.IsScalar() && f.Scalar() == first) || (f.IsMap() && f["name"] && f["name"].as<std::string>() == first))
        decl.reset(f);
    if (!decl)
      return core::make_error(app_file + ": function '" + first + "' of the first chain is not declared");
    YAML::Node functions = app["functions"];
    YAML::Node chained(YAML::NodeType::Sequence);
    chained.push_back(first);
    for (unsigned k = 2; k <= length; ++k) {
      const std::string name = first + "-" + std::to_string(k);
      YAML::Node copy(YAML::NodeType::Map);
      if (decl.IsMap())
        copy.reset(YAML::Clone(decl));
      if (!copy["handler"])
        copy["handler"] = first; // `- upper` and `{name: upper}` name their handler
      copy["name"] = name;
      functions.push_back(copy);
      chained.push_back(name);
    }
    chain["functions"] = chained;
    if (app["libraries"] && app["libraries"].IsSequence()) {
      const auto base = fs::absolute(fs::path(app_file)).parent_path();
      YAML::Node libs(YAML::NodeType::Sequence);
      for (const auto& l : app["libraries"]) {
        const fs::path p = l.as<std::string>();
        libs.push_back((p.is_absolute() ? p : base / p).lexically_normal().string());
      }
      app["libraries"] = libs;
    }
    YAML::Emitter out;
    out << app;
    const std::string path = (fs::path(dir) / ("chain" + std::to_string(length) + ".yaml")).string();
    std::ofstream(path) << "# written by spry bench: " << app_file << " with its first chain as "
                        << length << " x " << first << "\n" << out.c_str() << "\n";
    return path;
  } catch (const YAML::Exception& e) {
    return core::make_error(app_file + ": " + e.what());
  }
}

} // namespace spry::bench
