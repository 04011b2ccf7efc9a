// Integration: protocol adapters in a running `spry run` gateway. CloudEvents in and out over
// HTTP, adapters replaced under traffic through /admin/adapters without losing a request, broken
// libraries refused while the old adapter keeps serving, and `spry adapter`. On local and tcp.
#include "bench/load/child_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

using namespace spry::test;
using spry::bench::child_process;

namespace {

std::string motion_yaml(const std::string& transport) {
  return "app: ce\ntransport: " + transport + "\nlibraries: [" SPRY_MOTION_LIBRARY "]\n"
         "adapters:\n  - { name: cloudevents, library: " SPRY_CLOUDEVENTS_ADAPTER " }\n"
         "gateway: {listen: '127.0.0.1:0'}\n"
         "functions:\n  - { name: sensor, handler: motion.sensor }\n"
         "  - { name: actuator, handler: motion.actuator }\n"
         "chains:\n  - { name: motion, http: { path: /motion }, adapter: cloudevents,\n"
         "      functions: [sensor, actuator], pool: { buffers: 64, buffer_size: 4KiB } }\n";
}

std::string tag_yaml(const std::string& transport) {
  return "app: tag\ntransport: " + transport + "\nlibraries: [" SPRY_FAULT_LIBRARY "]\n"
         "adapters:\n  - { name: tag, library: " SPRY_TAG_ADAPTER_A " }\n"
         "gateway: {listen: '127.0.0.1:0', io_threads: 2}\n"
         "functions:\n  - { name: upper, handler: fault.upper, max_instances: 2 }\n"
         "chains:\n  - { name: up, http: { path: /up }, adapter: tag, functions: [upper],\n"
         "      pool: { buffers: 128, buffer_size: 4KiB } }\n";
}

const std::string reading = R"({"sensor": 5, "ts": 1700000000000, "state": "on"})";

void cloudevents_over_http(const std::string& transport) {
  temp_dir dir;
  child_process spry({SPRY_BINARY, "run", dir.file("ce.yaml", motion_yaml(transport)),
                      "--log-level", "warn"});
  const uint16_t port = port_of(spry);
  http_connection c(port);
  REQUIRE(c.connected());

  // Binary mode in, binary mode out.
  auto r = c.request("POST", "/motion", reading,
                     "Content-Type: application/json\r\nce-specversion: 1.0\r\nce-id: ev-1\r\n"
                     "ce-source: /sensors/5\r\nce-type: motion\r\nce-subject: sensors/hall/motion\r\n");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("ce-specversion") == "1.0");
  CHECK(r->header("ce-subject") == "lights/hall");
  CHECK_FALSE(r->header("ce-id").empty());
  CHECK(r->header("content-type") == "application/json");
  CHECK_THAT(r->body, Catch::Contains("\"light\":\"on\"") && Catch::Contains("\"room\":\"hall\""));

  // A binary-mode event needs no MQTT-style subject: the room is the subject itself, or the path
  // below the chain's prefix; with neither, 400 says where to put it.
  const std::string binary = "Content-Type: application/json\r\nce-specversion: 1.0\r\nce-id: ev-9\r\n"
                             "ce-source: /sensors/5\r\nce-type: motion\r\n";
  r = c.request("POST", "/motion/kitchen", reading, binary);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("ce-subject") == "lights/kitchen");
  CHECK_THAT(r->body, Catch::Contains("\"room\":\"kitchen\""));
  r = c.request("POST", "/motion", reading, binary + "ce-subject: cellar\r\n");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK_THAT(r->body, Catch::Contains("\"room\":\"cellar\""));
  r = c.request("POST", "/motion", reading, binary);
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK_THAT(r->body, Catch::Contains("no room: name it in the event's subject"));

  // Structured mode in, structured mode out.
  r = c.request("POST", "/motion",
                R"({"specversion":"1.0","id":"ev-2","source":"/s","type":"motion",)"
                R"("subject":"sensors/attic/motion","data":{"sensor":5,"ts":1,"state":"off"}})",
                "Content-Type: application/cloudevents+json\r\n");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("content-type") == "application/cloudevents+json");
  CHECK_THAT(r->body, Catch::Contains("\"specversion\":\"1.0\"") &&
                        Catch::Contains("\"light\":\"off\"") && Catch::Contains("lights/attic"));

  // Invalid events: 400 with the reason, before any function runs.
  r = c.request("POST", "/motion", reading,
                "Content-Type: application/json\r\nce-specversion: 1.0\r\nce-source: s\r\nce-type: t\r\n");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK_THAT(r->body, Catch::Contains("missing required attribute 'id'"));
  r = c.request("POST", "/motion", "{\"specversion\": \"1.0\", ",
                "Content-Type: application/cloudevents+json\r\n");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK_THAT(r->body, Catch::Contains("not valid JSON"));
  r = c.request("POST", "/motion", R"({"specversion":"1.0","id":"1","source":"s"})",
                "Content-Type: application/cloudevents+json\r\n");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK_THAT(r->body, Catch::Contains("missing required attribute 'type'"));
  r = c.request("POST", "/motion", reading, "Content-Type: application/json\r\n");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK_THAT(r->body, Catch::Contains("not a CloudEvent"));
  // A valid event whose data the function refuses: its reason, untouched by the adapter.
  r = c.request("POST", "/motion", R"({"sensor": 5})",
                "Content-Type: application/json\r\nce-specversion: 1.0\r\nce-id: 3\r\n"
                "ce-source: s\r\nce-type: t\r\nce-subject: sensors/hall/motion\r\n");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK_THAT(r->body, Catch::Contains("bad motion event"));

  auto m = http_request(port, "GET", "/metrics");
  REQUIRE(m);
  CHECK(metric_value(m->body, "spry_adapter_rejected_total{adapter=\"cloudevents\"}") == 4.0);
  CHECK(metric_value(m->body, "spry_pool_buffers{chain=\"motion\",state=\"in_use\"}") == 0.0);
}

void replace_under_traffic(const std::string& transport) {
  temp_dir dir;
  child_process spry({SPRY_BINARY, "run", dir.file("tag.yaml", tag_yaml(transport)),
                      "--log-level", "warn"});
  const uint16_t port = port_of(spry);

  std::atomic<bool> stop{false};
  std::mutex mtx;
  std::map<std::string, uint64_t> by_outcome; // "200 a", "200 b", or anything else
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&] {
      http_connection c(port);
      std::map<std::string, uint64_t> mine;
      while (!stop) {
        auto r = c.request("POST", "/up", "abc");
        const std::string key = r ? std::to_string(r->status) + " " + r->header("x-adapter-tag") +
                                      (r->body == "ABC" ? "" : " body=" + r->body)
                                  : std::string("no answer");
        mine[key]++;
        if (!r)
          break;
      }
      std::lock_guard<std::mutex> guard{mtx};
      for (auto& [k, n] : mine)
        by_outcome[k] += n;
    });

  const std::string admin = "/admin/adapters/tag?library=";
  for (int round = 0; round < 6; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    auto r = http_request(port, "POST", admin + (round % 2 ? SPRY_TAG_ADAPTER_A : SPRY_TAG_ADAPTER_B));
    REQUIRE(r);
    CHECK(r->status == 200);
    // A broken library in between is refused with the reason; the current adapter keeps serving.
    auto bad = http_request(port, "POST", admin + SPRY_BAD_ABI_ADAPTER);
    REQUIRE(bad);
    CHECK(bad->status == 400);
    CHECK_THAT(bad->body, Catch::Contains("adapter ABI"));
    auto missing = http_request(port, "POST", admin + std::string(SPRY_FAULT_LIBRARY));
    REQUIRE(missing);
    CHECK(missing->status == 400);
    CHECK_THAT(missing->body, Catch::Contains("does not export spry_adapter_abi_version"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  stop = true;
  for (auto& t : clients)
    t.join();

  uint64_t total = 0;
  for (auto& [k, n] : by_outcome) {
    INFO(k << ": " << n);
    CHECK((k == "200 a" || k == "200 b")); // no request lost, failed or answered by no adapter
    total += n;
  }
  CHECK(by_outcome["200 a"] > 0);
  CHECK(by_outcome["200 b"] > 0);
  std::printf("adapter replaced 6 times under traffic (%s): %llu requests, all answered 200\n",
              transport.c_str(), static_cast<unsigned long long>(total));

  // The last load was generation 7 (library a); `spry adapter` drives the same endpoint.
  auto [code, out] = run_command(std::string(SPRY_BINARY) + " adapter list 127.0.0.1:" + std::to_string(port));
  CHECK(code == 0);
  CHECK_THAT(out, Catch::Contains("\"generation\":7"));
  auto r = http_request(port, "POST", "/up", "refuse");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK_THAT(r->body, Catch::Contains("tag adapter refuses"));
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " adapter unload 127.0.0.1:" +
                                    std::to_string(port) + " tag");
  CHECK(code == 0);
  r = http_request(port, "POST", "/up", "abc");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK_THAT(r->body, Catch::Contains("adapter 'tag'") && Catch::Contains("not loaded"));
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " adapter load 127.0.0.1:" +
                                    std::to_string(port) + " tag " SPRY_BAD_ABI_ADAPTER);
  CHECK(code == 1);
  CHECK_THAT(out, Catch::Contains("adapter ABI"));
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " adapter load 127.0.0.1:" +
                                    std::to_string(port) + " tag " SPRY_TAG_ADAPTER_B);
  CHECK(code == 0);
  r = http_request(port, "POST", "/up", "abc");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("x-adapter-tag") == "b");
  auto m = http_request(port, "GET", "/metrics");
  REQUIRE(m);
  CHECK(metric_value(m->body, "spry_pool_buffers{chain=\"up\",state=\"in_use\"}") == 0.0);
}

} // namespace

TEST_CASE("CloudEvents over HTTP on local", "[integration][adapters]") { cloudevents_over_http("local"); }
TEST_CASE("CloudEvents over HTTP on tcp", "[integration][adapters][processes]") {
  cloudevents_over_http("tcp");
}

TEST_CASE("adapter replaced under traffic loses no request on local", "[integration][adapters]") {
  replace_under_traffic("local");
}
TEST_CASE("adapter replaced under traffic loses no request on tcp", "[integration][adapters][processes]") {
  replace_under_traffic("tcp");
}

TEST_CASE("a broken adapter in the app file stops the start with the reason", "[integration][adapters]") {
  temp_dir dir;
  auto yaml = tag_yaml("local");
  yaml.replace(yaml.find(SPRY_TAG_ADAPTER_A), std::string(SPRY_TAG_ADAPTER_A).size(), SPRY_BAD_ABI_ADAPTER);
  auto [code, out] = run_command(std::string(SPRY_BINARY) + " check " + dir.file("bad.yaml", yaml));
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("bad.yaml:") && Catch::Contains("adapter ABI"));
  auto undeclared = tag_yaml("local");
  undeclared.replace(undeclared.find("adapter: tag"), 12, "adapter: nope");
  std::tie(code, out) = run_command(std::string(SPRY_BINARY) + " check " + dir.file("u.yaml", undeclared));
  CHECK(code == 2);
  CHECK_THAT(out, Catch::Contains("adapter 'nope' is not declared"));
}
