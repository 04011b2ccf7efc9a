#pragma once
// What the fault-injection tests share: which transports run here, the hello app they break,
// metrics and /status read back, and the wait for a chain to serve again.

#include "core/transport_registry.hpp"
#include "gateway/server.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace spry::test {


// Why `transport` cannot run here ("" if it can): not in the build, no root, no hugepages.
inline std::string unavailable(const std::string& transport) {
  const auto* e = spry::gateway::transports().find(transport);
  if (!e)
    return transport + " is not in this build";
  if (e->missing_requirement)
    return e->missing_requirement();
  return {};
}

inline std::vector<std::string> process_transports() { return {"tcp", "shm-skmsg", "shm-dpdk"}; }

inline std::string hello_yaml(const std::string& transport, const std::string& extra,
                       const std::string& chain_extra = "timeout: 10s") {
  return "app: faults\ntransport: " + transport + "\nlibraries: [" SPRY_FAULT_LIBRARY "]\n"
         "gateway: {listen: '127.0.0.1:0'}\n" + extra +
         "functions:\n  - { name: upper, handler: fault.upper }\n"
         "  - { name: count, handler: fault.count }\n"
         "chains:\n  - name: hello\n    http: { method: POST, path: /hello }\n"
         "    functions: [upper, count]\n    pool: { buffers: 64, buffer_size: 16KiB }\n    " +
         chain_extra + "\n";
}

inline double metric(uint16_t port, const std::string& name) {
  auto m = http_request(port, "GET", "/metrics");
  REQUIRE(m);
  return metric_value(m->body, name).value_or(-1);
}

// A request answered 200, retried while instances come back.
inline bool serves(uint16_t port, const std::string& path = "/hello", const std::string& body = "after") {
  return eventually([&] {
    auto r = http_request(port, "POST", path, body);
    return r && r->status == 200;
  }, std::chrono::seconds(10));
}

// The instances of `function` from GET /status: "pid" or "endpoint" of each.
inline std::vector<int> instances_of(uint16_t port, const std::string& function, const char* what) {
  std::vector<int> out;
  auto r = http_request(port, "GET", "/status");
  REQUIRE(r);
  const auto j = nlohmann::json::parse(r->body);
  for (const auto& f : j.at("functions"))
    if (f.at("name") == function)
      for (const auto& i : f.at("instances"))
        if (i.contains(what) && i.at(what).is_number())
          out.push_back(i.at(what).get<int>());
  return out;
}

inline std::vector<int> pids_of(uint16_t port, const std::string& function) {
  return instances_of(port, function, "pid");
}

inline uint64_t seed_of_run() {
  if (const char* s = std::getenv("SPRY_TEST_SEED"))
    return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

} // namespace spry::test
