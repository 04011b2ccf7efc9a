// Integration: the gateway speaking MQTT 5 (`mqtt.protocol: 5`) to a real mosquitto started by
// the test on a free loopback port and stopped by its PID, with `spry run` gateways started and
// stopped by theirs; the test's own MQTT 5 clients are Paho C++ (tests/support/mqtt5_clients.hpp):
// - a binary-mode CloudEvent (attributes in user properties, datacontenttype in the Content Type
//   property, data in the payload) runs the motion chain and is answered with a binary-mode
//   CloudEvent, on a `content_mode: binary` subscription and on one without content_mode (the
//   `specversion` user property says it is binary);
// - a binary event without `id` is refused with the reason, counted, logged, acknowledged and not
//   delivered again to the restarted gateway;
// - a persistent MQTT 5 session (Clean Start 0 + Session Expiry Interval) keeps what is published
//   while the gateway is stopped, and the restarted gateway processes it;
// - two MQTT 5 gateways in one shared subscription process each message once;
// - the broker's Receive Maximum (mosquitto's max_inflight_messages) is read and kept to.
#include "bench/load/child_process.hpp"
#include "tests/support/mosquitto.hpp"
#include "tests/support/mqtt5_clients.hpp"
#include "tests/support/mqtt_clients.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <unistd.h>

#include <set>
#include <thread>
#include <vector>

using namespace spry::test;
using nlohmann::json;

namespace {

std::string motion5_yaml(const std::string& broker, const std::string& client_id) {
  return "app: motion-ce5\ntransport: local\nlibraries: [" SPRY_MOTION_LIBRARY "]\n"
         "adapters:\n  - { name: cloudevents, library: " SPRY_CLOUDEVENTS_ADAPTER " }\n"
         "gateway: {listen: '127.0.0.1:0'}\n"
         "mqtt:\n  broker: " + broker + "\n  client_id: " + client_id +
         "\n  protocol: 5\n  session_expiry: 10m\n  reconnect_min: 50ms\n  reconnect_max: 500ms\n"
         "  subscriptions:\n"
         "    - { filter: sensors/+/motion, chain: motion, qos: 1, adapter: cloudevents,"
         " content_mode: binary, reply_topic: '{topic}', reply_qos: 1 }\n"
         "    - { filter: auto/+/motion, chain: motion, qos: 1, adapter: cloudevents,"
         " reply_topic: '{topic}', reply_qos: 1 }\n"
         "functions:\n  - { name: sensor, handler: motion.sensor }\n"
         "  - { name: actuator, handler: motion.actuator }\n"
         "chains:\n  - { name: motion, functions: [sensor, actuator],\n"
         "      pool: { buffers: 16, buffer_size: 4KiB }, timeout: 5s }\n";
}

std::string burn5_yaml(const std::string& broker, const std::string& client_id,
                       const std::string& extra_mqtt = {}) {
  return "app: burn5\ntransport: local\nlibraries: [" SPRY_FAULT_LIBRARY "]\n"
         "gateway: {listen: '127.0.0.1:0'}\n"
         "mqtt:\n  broker: " + broker + "\n  client_id: " + client_id +
         "\n  protocol: 5\n  reconnect_min: 50ms\n  reconnect_max: 500ms\n" + extra_mqtt +
         "  subscriptions:\n"
         "    - { filter: work/+, chain: burn, qos: 1, reply_topic: 'done/{2}', reply_qos: 1 }\n"
         "functions:\n  - { name: burn, handler: test.burn }\n"
         "chains:\n  - { name: burn, functions: [burn], pool: { buffers: 64, buffer_size: 4KiB },"
         " timeout: 20s }\n";
}

using props = std::vector<std::pair<std::string, std::string>>;

props attributes(const std::string& id, int sensor) {
  props p = {{"specversion", "1.0"},
             {"source", "urn:spry-test:sensor:" + std::to_string(sensor)},
             {"type", "org.example.motion"}};
  if (!id.empty())
    p.emplace_back("id", id);
  return p;
}

std::string reading(int sensor, const std::string& state) {
  return json{{"sensor", sensor}, {"ts", 1700000000000 + sensor}, {"state", state}}.dump();
}

} // namespace

TEST_CASE("a binary CloudEvent over MQTT 5 is answered with a binary CloudEvent",
          "[integration][mqtt]") {
  if (!mqtt_tools_present())
    return;
  temp_dir dir;
  mosquitto_broker broker(dir);
  const auto tag = std::to_string(getpid());
  uint16_t port = 0;
  auto gw = start_mqtt_gateway(dir, "ce5.yaml", motion5_yaml(broker.uri(), "spry-test-ce5-" + tag),
                               "spry.log", port);
  mqtt5_client sub(broker.port(), "test-sub-" + tag);
  sub.subscribe("lights/#");
  mqtt5_client pub(broker.port(), "test-pub-" + tag);

  // content_mode: binary, and (auto/...) a subscription without content_mode on which the
  // specversion user property marks the event as binary.
  for (const std::string room : {"kitchen", "hall"}) {
    const std::string topic = (room == "kitchen" ? "sensors/" : "auto/") + room + "/motion";
    auto attrs = attributes("ev-" + room, room == "kitchen" ? 7 : 8);
    if (room == "hall")
      attrs.emplace_back("subject", room); // the motion functions find no room in auto/hall/motion
    attrs.emplace_back("traceparent", "00-abc-def-01"); // an extension attribute rides along
    attrs.emplace_back("X-Not-An-Attribute", "ignored"); // not a CloudEvents attribute name
    pub.publish(topic, reading(room == "kitchen" ? 7 : 8, "on"), "application/json", attrs);
    const auto m = sub.next(std::chrono::seconds(10));
    REQUIRE(m);
    INFO("reply on " << m->topic << ": " << m->payload);
    CHECK(m->topic == "lights/" + room);
    // Binary mode out: attributes as user properties (names without a prefix), datacontenttype
    // as the Content Type, the data as the payload.
    CHECK(m->user_property("specversion") == "1.0");
    CHECK(m->user_property("type") == "org.spry.chain.result");
    CHECK(m->user_property("subject") == "lights/" + room);
    CHECK_FALSE(m->user_property("id").empty());
    CHECK_FALSE(m->user_property("source").empty());
    CHECK(m->user_property("datacontenttype").empty());
    CHECK(m->content_type == "application/json");
    const auto data = json::parse(m->payload);
    CHECK(data["light"] == "on");
    CHECK(data["sensor"] == (room == "kitchen" ? 7 : 8));
  }
  CHECK(wait_until([&] { return gateway_metric(port, "spry_mqtt_messages_total{result=\"ok\"}") == 2; },
                   std::chrono::seconds(5)));
  // Counted after the reply is handed to the client: the reply may be read here first.
  CHECK(wait_until([&] { return gateway_metric(port, "spry_mqtt_replies_total") == 2; },
                   std::chrono::seconds(5)));
  CHECK(gateway_metric(port, "spry_mqtt_messages_total{result=\"rejected\"}") == 0);

  // A structured event on MQTT 5 says so in its Content Type and is answered in structured mode,
  // with that Content Type.
  const auto structured = json{{"specversion", "1.0"}, {"id", "ev-s"}, {"source", "urn:s"},
                               {"subject", "den"},
                               {"type", "org.example.motion"}, {"datacontenttype", "application/json"},
                               {"data", {{"sensor", 9}, {"ts", 5}, {"state", "off"}}}}
                            .dump();
  pub.publish("auto/den/motion", structured, "application/cloudevents+json; charset=utf-8", {});
  const auto m = sub.next(std::chrono::seconds(10));
  REQUIRE(m);
  CHECK(m->topic == "lights/den");
  CHECK(m->content_type == "application/cloudevents+json");
  CHECK(json::parse(m->payload)["data"]["light"] == "off");
}

TEST_CASE("a binary CloudEvent over MQTT 5 without id is refused, counted, acknowledged and not "
          "redelivered",
          "[integration][mqtt]") {
  if (!mqtt_tools_present())
    return;
  temp_dir dir;
  mosquitto_broker broker(dir);
  const auto tag = std::to_string(getpid());
  const auto yaml = motion5_yaml(broker.uri(), "spry-test-ce5-bad-" + tag);
  uint16_t port = 0;
  auto gw = start_mqtt_gateway(dir, "ce5.yaml", yaml, "spry1.log", port);
  mqtt5_client sub(broker.port(), "test-sub-" + tag);
  sub.subscribe("lights/#");
  mqtt5_client pub(broker.port(), "test-pub-" + tag);

  pub.publish("sensors/attic/motion", reading(3, "on"), "application/json", attributes("", 3));
  REQUIRE(wait_until([&] { return gateway_metric(port, "spry_mqtt_messages_total{result=\"rejected\"}") == 1; },
                     std::chrono::seconds(5)));
  // A plain reading on the binary subscription: no specversion user property.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100)); // the log's rate limit: a line a second
  pub.publish("sensors/attic/motion", reading(3, "on"), "application/json", {});
  REQUIRE(wait_until([&] { return gateway_metric(port, "spry_mqtt_messages_total{result=\"rejected\"}") == 2; },
                     std::chrono::seconds(5)));
  // A good one still goes through.
  pub.publish("sensors/attic/motion", reading(3, "off"), "application/json", attributes("ev-ok", 3));
  const auto m = sub.next(std::chrono::seconds(10));
  REQUIRE(m);
  CHECK(json::parse(m->payload)["light"] == "off");
  CHECK(gateway_metric(port, "spry_adapter_rejected_total{adapter=\"cloudevents\"}") == 2);
  CHECK(gateway_metric(port, "spry_pool_buffers{chain=\"motion\",state=\"in_use\"}") == 0);

  // Acknowledged: the gateway restarted on the same persistent MQTT 5 session gets none again.
  REQUIRE(gw->stop(SIGTERM, std::chrono::seconds(10)));
  gw.reset();
  gw = start_mqtt_gateway(dir, "ce5.yaml", yaml, "spry2.log", port);
  CHECK(gateway_metric(port, "spry_mqtt_sessions_resumed_total") == 1);
  pub.publish("sensors/loft/motion", reading(4, "on"), "application/json", attributes("ev-4", 4));
  REQUIRE(sub.next(std::chrono::seconds(10)));
  CHECK(gateway_metric(port, "spry_mqtt_received_total") == 1);
  CHECK(gateway_metric(port, "spry_mqtt_messages_total{result=\"rejected\"}") == 0);

  const auto log = spry::bench::read_file(dir.path + "/spry1.log");
  CHECK(occurrences(log, "missing required attribute 'id' (user property id)") == 1);
  CHECK(occurrences(log, "missing required attribute 'specversion' (user property specversion) "
                         "(this subscription has content_mode: binary") == 1);
}

TEST_CASE("MQTT 5 messages published while the gateway is stopped are processed when it starts",
          "[integration][mqtt]") {
  if (!mqtt_tools_present())
    return;
  temp_dir dir;
  mosquitto_broker broker(dir);
  const auto yaml = burn5_yaml(broker.uri(), "spry-test-offline5-" + std::to_string(getpid()));
  uint16_t port = 0;
  auto gw = start_mqtt_gateway(dir, "burn.yaml", yaml, "spry1.log", port); // the broker learns the session
  CHECK(gateway_metric(port, "spry_mqtt_sessions_resumed_total") == 0);
  REQUIRE(gw->stop(SIGTERM, std::chrono::seconds(10)));
  gw.reset();

  auto sub = mqtt_subscriber(broker.port(), dir, "done/#");
  std::vector<std::string> lines;
  std::set<std::string> want;
  for (int i = 0; i < 30; ++i) {
    lines.push_back("200 offline5-" + std::to_string(i));
    want.insert(lines.back());
  }
  mqtt_publish_lines(broker.port(), dir, "work/a", lines); // nobody is connected to take them

  gw = start_mqtt_gateway(dir, "burn.yaml", yaml, "spry2.log", port);
  CHECK(gateway_metric(port, "spry_mqtt_sessions_resumed_total") == 1);
  const auto seen = mqtt_collect(*sub, "done/", want, std::chrono::seconds(20));
  for (const auto& w : want)
    CHECK(seen.count(w) == 1);
  CHECK(wait_until([&] { return gateway_metric(port, "spry_mqtt_messages_total{result=\"ok\"}") == 30; },
                   std::chrono::seconds(5)));
  const auto log = spry::bench::read_file(dir.path + "/spry2.log");
  CHECK(occurrences(log, "MQTT 5, persistent session, resumed") == 1);
}

TEST_CASE("two MQTT 5 gateways in one shared subscription process each message once",
          "[integration][mqtt]") {
  if (!mqtt_tools_present())
    return;
  temp_dir dir;
  mosquitto_broker broker(dir);
  const std::string share = "  share_group: spry-burn5\n";
  const auto tag = std::to_string(getpid());
  uint16_t port_a = 0, port_b = 0;
  auto a = start_mqtt_gateway(dir, "a.yaml", burn5_yaml(broker.uri(), "spry-test-share5-a-" + tag, share),
                              "a.log", port_a);
  auto b = start_mqtt_gateway(dir, "b.yaml", burn5_yaml(broker.uri(), "spry-test-share5-b-" + tag, share),
                              "b.log", port_b);
  auto sub = mqtt_subscriber(broker.port(), dir, "done/#");
  std::vector<std::string> lines;
  std::set<std::string> want;
  for (int i = 0; i < 40; ++i) {
    lines.push_back("100 share5-" + std::to_string(i));
    want.insert(lines.back());
  }
  mqtt_publish_lines(broker.port(), dir, "work/c", lines);
  const auto seen = mqtt_collect(*sub, "done/", want, std::chrono::seconds(20));
  for (const auto& w : want)
    CHECK(seen.count(w) == 1);
  for (const auto& [payload, n] : seen)
    CHECK(n == 1);
  const double ok_a = gateway_metric(port_a, "spry_mqtt_messages_total{result=\"ok\"}");
  const double ok_b = gateway_metric(port_b, "spry_mqtt_messages_total{result=\"ok\"}");
  INFO("gateway a " << ok_a << ", gateway b " << ok_b);
  CHECK(ok_a + ok_b == 40);
  CHECK(ok_a > 0);
  CHECK(ok_b > 0);
}

TEST_CASE("an MQTT 5 gateway keeps to the broker's Receive Maximum with its QoS 1 replies",
          "[integration][mqtt]") {
  if (!mqtt_tools_present())
    return;
  temp_dir dir;
  // mosquitto sends its max_inflight_messages as Receive Maximum to MQTT 5 clients (the log line
  // shows the gateway read it). mosquitto 2.0.11 does not disconnect a client that goes past it
  // (tried: with the limit ignored this test still got every reply), so the holding back itself
  // is tested against a scripted broker in tests/gateway/mqtt_client_test.cpp; here: every
  // reply arrives under the limit, on one connection.
  mosquitto_broker broker(dir, 0, "max_inflight_messages 1\n");
  uint16_t port = 0;
  auto gw = start_mqtt_gateway(dir, "burn.yaml",
                               burn5_yaml(broker.uri(), "spry-test-rm-" + std::to_string(getpid())),
                               "spry.log", port);
  auto sub = mqtt_subscriber(broker.port(), dir, "done/#");
  std::vector<std::string> lines;
  std::set<std::string> want;
  for (int i = 0; i < 30; ++i) {
    lines.push_back("100 rm-" + std::to_string(i));
    want.insert(lines.back());
  }
  mqtt_publish_lines(broker.port(), dir, "work/r", lines);
  const auto seen = mqtt_collect(*sub, "done/", want, std::chrono::seconds(20));
  for (const auto& w : want)
    CHECK(seen.count(w) == 1);
  CHECK(gateway_metric(port, "spry_mqtt_connection_losses_total") == 0);
  CHECK(gateway_metric(port, "spry_mqtt_connects_total") == 1);
  CHECK(occurrences(spry::bench::read_file(dir.path + "/spry.log"), "receive maximum 1,") == 1);
}
