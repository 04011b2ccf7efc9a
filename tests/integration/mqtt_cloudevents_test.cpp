// Integration: CloudEvents over MQTT (the CloudEvents MQTT protocol binding, MQTT 3.1.1:
// structured mode) through a real mosquitto started by the test on a free loopback port and
// stopped by its PID. The motion-detection chain behind the `cloudevents` adapter:
// - a structured event published on sensors/<room>/motion is answered on lights/<room> with a
//   structured event whose data is the actuator's result;
// - a plain reading on the same filter is wrapped on the way in and answered as it is;
// - on a filter with content_mode: structured every payload must be an event: a malformed one
//   (bad JSON, a missing required attribute) is counted as rejected, logged once and
//   acknowledged, so that a restarted gateway on the same persistent session does not get it again.
#include "bench/load/child_process.hpp"
#include "tests/support/mosquitto.hpp"
#include "tests/support/mqtt_clients.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <unistd.h>

#include <thread>
#include <vector>

using namespace spry::test;
using nlohmann::json;

namespace {

std::string ce_motion_yaml(const std::string& broker, const std::string& client_id) {
  return "app: motion-ce\ntransport: local\nlibraries: [" SPRY_MOTION_LIBRARY "]\n"
         "adapters:\n  - { name: cloudevents, library: " SPRY_CLOUDEVENTS_ADAPTER " }\n"
         "gateway: {listen: '127.0.0.1:0'}\n"
         "mqtt:\n  broker: " + broker + "\n  client_id: " + client_id +
         "\n  reconnect_min: 50ms\n  reconnect_max: 500ms\n"
         "  subscriptions:\n"
         "    - { filter: sensors/+/motion, chain: motion, qos: 1, adapter: cloudevents,"
         " reply_topic: '{topic}', reply_qos: 1 }\n"
         "    - { filter: ce/+/motion, chain: motion, qos: 1, adapter: cloudevents,"
         " content_mode: structured, reply_topic: '{topic}', reply_qos: 1 }\n"
         "functions:\n  - { name: sensor, handler: motion.sensor }\n"
         "  - { name: actuator, handler: motion.actuator }\n"
         "chains:\n  - { name: motion, functions: [sensor, actuator],\n"
         "      pool: { buffers: 16, buffer_size: 4KiB }, timeout: 5s }\n";
}

std::string motion_event(const std::string& id, const std::string& subject, int sensor,
                         const std::string& state) {
  return json{{"specversion", "1.0"},
              {"id", id},
              {"source", "urn:spry-test:sensor:" + std::to_string(sensor)},
              {"type", "org.example.motion"},
              {"subject", subject},
              {"datacontenttype", "application/json"},
              {"data", {{"sensor", sensor}, {"ts", 1700000000000 + sensor}, {"state", state}}}}
    .dump();
}

/// The payload of a "TOPIC PAYLOAD" line as JSON.
json payload_of(const std::string& line) {
  return json::parse(line.substr(line.find(' ') + 1));
}

} // namespace

TEST_CASE("a structured CloudEvent over MQTT is answered with a structured CloudEvent",
          "[integration][mqtt]") {
  if (!mqtt_tools_present())
    return;
  temp_dir dir;
  mosquitto_broker broker(dir);
  uint16_t port = 0;
  auto gw = start_mqtt_gateway(dir, "ce.yaml",
                               ce_motion_yaml(broker.uri(), "spry-test-ce-" + std::to_string(getpid())),
                               "spry.log", port);
  auto sub = mqtt_subscriber(broker.port(), dir, "lights/#");

  mqtt_publish(broker.port(), dir, "sensors/kitchen/motion", motion_event("ev-1", "kitchen", 7, "on"));
  auto line = sub->wait_for_line("lights/kitchen ", std::chrono::seconds(10));
  REQUIRE(line);
  const auto e = payload_of(*line);
  CHECK(e["specversion"] == "1.0");
  CHECK(e["type"] == "org.spry.chain.result");
  CHECK(e["subject"] == "lights/kitchen");
  CHECK_FALSE(e.value("id", std::string()).empty());
  CHECK_FALSE(e.value("source", std::string()).empty());
  CHECK(e["datacontenttype"] == "application/json");
  CHECK(e["data"]["light"] == "on");
  CHECK(e["data"]["sensor"] == 7);

  // A plain reading on the same filter (no content_mode): wrapped in, answered as it is.
  mqtt_publish(broker.port(), dir, "sensors/hall/motion", R"({"sensor": 8, "ts": 5, "state": "off"})");
  line = sub->wait_for_line("lights/hall ", std::chrono::seconds(10));
  REQUIRE(line);
  CHECK_FALSE(payload_of(*line).contains("specversion"));
  CHECK(payload_of(*line)["light"] == "off");

  // content_mode: structured: an event is answered with an event ...
  mqtt_publish(broker.port(), dir, "ce/den/motion", motion_event("ev-2", "den", 9, "on"));
  line = sub->wait_for_line("lights/den ", std::chrono::seconds(10));
  REQUIRE(line);
  CHECK(payload_of(*line)["specversion"] == "1.0");
  CHECK(payload_of(*line)["data"]["sensor"] == 9);
  CHECK(wait_until([&] { return gateway_metric(port, "spry_mqtt_messages_total{result=\"ok\"}") == 3; },
                   std::chrono::seconds(5)));
  CHECK(gateway_metric(port, "spry_mqtt_replies_total") == 3);
}

TEST_CASE("a malformed CloudEvent over MQTT is counted, logged once, acknowledged and not redelivered",
          "[integration][mqtt]") {
  if (!mqtt_tools_present())
    return;
  temp_dir dir;
  mosquitto_broker broker(dir);
  const auto yaml = ce_motion_yaml(broker.uri(), "spry-test-ce-bad-" + std::to_string(getpid()));
  uint16_t port = 0;
  auto gw = start_mqtt_gateway(dir, "ce.yaml", yaml, "spry1.log", port);
  auto sub = mqtt_subscriber(broker.port(), dir, "lights/#");

  // Missing source and type (it looks like an event: it names specversion), then bad JSON and a
  // plain reading on the filter that declares structured mode, then a good event.
  // The gateway logs at most a line a second (a flooding device must not flood the log): each
  // bad message waits for the one before it to be counted and that second to pass, so that
  // every reason is logged.
  const std::vector<std::pair<std::string, std::string>> bad = {
    {"sensors/attic/motion", R"({"specversion": "1.0", "id": "x"})"},
    {"ce/attic/motion", R"({"specversion": oops)"},
    {"ce/attic/motion", R"({"sensor": 1, "ts": 2, "state": "on"})"}};
  for (size_t i = 0; i < bad.size(); ++i) {
    mqtt_publish(broker.port(), dir, bad[i].first, bad[i].second);
    REQUIRE(wait_until([&] { return gateway_metric(port, "spry_mqtt_messages_total{result=\"rejected\"}") == i + 1; },
                       std::chrono::seconds(5)));
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  }
  mqtt_publish(broker.port(), dir, "ce/attic/motion", motion_event("ev-3", "attic", 3, "off"));
  const auto line = sub->wait_for_line("lights/attic ", std::chrono::seconds(10));
  REQUIRE(line);
  CHECK(payload_of(*line)["data"]["light"] == "off");
  CHECK(wait_until([&] { return gateway_metric(port, "spry_mqtt_messages_total{result=\"rejected\"}") == 3; },
                   std::chrono::seconds(5)));
  CHECK(gateway_metric(port, "spry_mqtt_messages_total{result=\"ok\"}") == 1);
  CHECK(gateway_metric(port, "spry_adapter_rejected_total{adapter=\"cloudevents\"}") == 3);
  CHECK(gateway_metric(port, "spry_pool_buffers{chain=\"motion\",state=\"in_use\"}") == 0);

  // Acknowledged: the gateway restarted on the same persistent session gets none of them again.
  REQUIRE(gw->stop(SIGTERM, std::chrono::seconds(10)));
  gw.reset();
  gw = start_mqtt_gateway(dir, "ce.yaml", yaml, "spry2.log", port);
  CHECK(gateway_metric(port, "spry_mqtt_sessions_resumed_total") == 1);
  mqtt_publish(broker.port(), dir, "ce/loft/motion", motion_event("ev-4", "loft", 4, "on"));
  REQUIRE(sub->wait_for_line("lights/loft ", std::chrono::seconds(10)));
  CHECK(gateway_metric(port, "spry_mqtt_received_total") == 1);
  CHECK(gateway_metric(port, "spry_mqtt_messages_total{result=\"rejected\"}") == 0);

  // Each reason logged once: one message each, so the log's rate limit does not hide any.
  const auto log = spry::bench::read_file(dir.path + "/spry1.log") +
                   spry::bench::read_file(dir.path + "/spry2.log");
  CHECK(occurrences(log, "missing required attribute 'source'") == 1);
  CHECK(occurrences(log, "structured CloudEvent is not valid JSON") == 1);
  CHECK(occurrences(log, "missing required attribute 'specversion'") == 1);
}
