#include "gateway/status_command.hpp"

#include "gateway/admin_client.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

namespace spry::gateway {

int status_command(const std::string& address, bool json) {
  auto res = admin_request(address, boost::beast::http::verb::get, "/status", std::chrono::seconds(5));
  if (res.result != admin_response::outcome::answered) {
    std::cerr << "spry status: " << res.body << "\n";
    return res.result == admin_response::outcome::bad_address ? 2 : 1;
  }
  if (res.status != 200) {
    std::cerr << "spry status: " << address << " answered " << res.status << ": " << res.body;
    return 1;
  }
  const std::string body = std::move(res.body);
  if (json) {
    std::fputs(body.c_str(), stdout);
    return 0;
  }
  try {
    const auto j = nlohmann::json::parse(body);
    const auto& p = j.at("policies");
    std::printf("app %s on %s; balancer %s, autoscaler %s (every %s ms), placement %s\n",
                j.at("app").get<std::string>().c_str(), j.at("transport").get<std::string>().c_str(),
                p.at("load_balancer").get<std::string>().c_str(),
                p.at("autoscaler").get<std::string>().c_str(), p.at("interval_ms").dump().c_str(),
                p.at("placement").get<std::string>().c_str());
    std::printf("cpu limits: %s\n\n", j.value("cpu_limits", std::string("?")).c_str());
    std::printf("%-16s %5s %5s %5s %8s %8s %9s %6s %6s %5s\n", "function", "min", "max", "want",
                "req/s", "inflight", "exec ms", "held", "cold", "cpu");
    for (const auto& f : j.at("functions"))
      std::printf("%-16s %5s %5s %5s %8.1f %8s %9.3f %6s %6s %4.0f%%\n",
                  f.at("name").get<std::string>().c_str(), f.at("min_instances").dump().c_str(),
                  f.at("max_instances").dump().c_str(), f.at("desired_instances").dump().c_str(),
                  f.at("arrival_rate").get<double>(), f.at("in_flight").dump().c_str(),
                  f.at("service_time_s").get<double>() * 1e3, f.at("held_requests").dump().c_str(),
                  f.at("cold_starts").dump().c_str(), f.value("cpu_fraction", 1.0) * 100);
    std::printf("\n%-16s %8s %-9s %-10s %8s %8s %9s\n", "function", "instance", "state", "node",
                "pid", "inflight", "exec ms");
    for (const auto& f : j.at("functions"))
      for (const auto& i : f.at("instances"))
        std::printf("%-16s %8s %-9s %-10s %8s %8s %9.3f\n", f.at("name").get<std::string>().c_str(),
                    i.at("endpoint").dump().c_str(), i.at("state").get<std::string>().c_str(),
                    i.value("node", std::string()).c_str(), i.contains("pid") ? i.at("pid").dump().c_str() : "-",
                    i.at("in_flight").dump().c_str(), i.at("service_time_s").get<double>() * 1e3);
    std::printf("\n%-16s %-12s %10s %14s\n", "node", "cpus", "cpu used", "memory MiB");
    for (const auto& n : j.at("nodes")) {
      std::string cpus;
      for (const auto& c : n.at("cpus"))
        cpus += (cpus.empty() ? "" : ",") + c.dump();
      std::printf("%-16s %-12s %10.2f %14.0f\n", n.at("name").get<std::string>().c_str(),
                  cpus.empty() ? "any" : cpus.c_str(), n.at("cpu_allocated").get<double>(),
                  n.at("memory_allocated_mib").get<double>());
    }
    if (j.contains("cluster")) {
      // A cluster node: the cluster's directory as this node last received it.
      const auto& c = j.at("cluster");
      std::printf("\ncluster: this is node '%s', %s controller %s (directory version %s)\n",
                  c.at("node").get<std::string>().c_str(),
                  c.at("joined").get<bool>() ? "joined to" : "NOT joined to (serving on the last directory)",
                  c.at("controller").get<std::string>().c_str(), c.at("directory_version").dump().c_str());
      std::printf("%-14s %-6s %-22s %8s %8s %8s %9s %9s  %s\n", "node", "state", "ingress", "cpu cap",
                  "cpu load", "inflight", "requests", "x-node", "runs (ready instances)");
      for (const auto& n : c.at("nodes")) {
        std::string runs;
        for (const auto& [f, k] : n.at("functions").items())
          runs += (runs.empty() ? "" : ", ") + f + " x" + k.dump();
        std::printf("%-14s %-6s %-22s %8.1f %8.2f %8s %9s %9s  %s\n",
                    n.at("name").get<std::string>().c_str(),
                    n.at("alive").get<bool>() ? "alive" : "LOST", n.at("http_address").get<std::string>().c_str(),
                    n.at("cpu_capacity").get<double>(), n.at("cpu_load").get<double>(),
                    n.at("in_flight").dump().c_str(), n.at("requests").dump().c_str(),
                    n.at("cross_node_hops").dump().c_str(), runs.empty() ? "-" : runs.c_str());
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "spry status: unexpected answer from " << address << " (" << e.what() << ")\n";
    return 1;
  }
  return 0;
}

} // namespace spry::gateway
