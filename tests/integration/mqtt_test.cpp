// Integration: MQTT ingress through a real mosquitto broker, started by the test on a free
// loopback port and stopped by its PID. The motion-detection chain end to end (mosquitto_pub in,
// mosquitto_sub on lights/#), malformed payloads counted with their reasons and their buffers
// returned, a broker restart mid-run (the gateway reconnects, resubscribes and resumes), and a
// short replay of the synthetic trace through Paho. On local, tcp and (as root) shm-skmsg.
#include "bench/load/child_process.hpp"
#include "examples/motion-detection/motion_trace.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/mosquitto.hpp"
#include "tests/support/mqtt_clients.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <thread>

using namespace spry::test;
using spry::bench::child_process;

namespace {

std::string motion_yaml(const std::string& transport, const std::string& broker) {
  return "app: motion\ntransport: " + transport + "\nlibraries: [" SPRY_MOTION_LIBRARY "]\n"
         "adapters:\n  - { name: mqtt-json, library: " SPRY_MQTT_JSON_ADAPTER " }\n"
         "gateway: {listen: '127.0.0.1:0'}\n"
         "mqtt:\n  broker: " + broker + "\n  client_id: spry-test-" + std::to_string(getpid()) + "-" +
         transport + "\n  reconnect_min: 50ms\n  reconnect_max: 500ms\n"
         "  subscriptions:\n"
         "    - { filter: sensors/+/motion, chain: motion, qos: 1, adapter: mqtt-json,"
         " reply_topic: '{topic}', reply_qos: 1 }\n"
         "functions:\n  - { name: sensor, handler: motion.sensor }\n"
         "  - { name: actuator, handler: motion.actuator }\n"
         "chains:\n  - { name: motion, http: { path: /motion }, functions: [sensor, actuator],\n"
         "      pool: { buffers: 64, buffer_size: 4KiB }, timeout: 5s }\n";
}

void motion_end_to_end(const std::string& transport) {
  if (!mqtt_tools_present())
    return;
  temp_dir dir;
  mosquitto_broker broker(dir);
  child_process spry({SPRY_BINARY, "run", dir.file("motion.yaml", motion_yaml(transport, broker.uri())),
                      "--log-level", "warn"},
                     dir.path + "/spry.log");
  const uint16_t port = port_of(spry);
  REQUIRE(wait_until([&] { return gateway_metric(port, "spry_mqtt_connected") == 1; }, std::chrono::seconds(10)));
  auto sub = mqtt_subscriber(broker.port(), dir, "lights/#");

  // A PUBLISH on sensors/kitchen/motion runs sensor -> actuator; the answer comes on lights/kitchen.
  mqtt_publish(broker.port(), dir, "sensors/kitchen/motion", R"({"sensor": 7, "ts": 1700000000001, "state": "on"})");
  auto line = sub->wait_for_line("lights/kitchen ", std::chrono::seconds(10));
  REQUIRE(line);
  CHECK_THAT(*line, Catch::Contains("\"light\":\"on\"") && Catch::Contains("\"sensor\":7") &&
                      Catch::Contains("\"ts\":1700000000001"));

  // Malformed payloads: no reply channel, so they are counted by reason and logged; their
  // buffers go back to the pool; good messages after them are still served.
  mqtt_publish(broker.port(), dir, "sensors/kitchen/motion", "not json");
  mqtt_publish(broker.port(), dir, "sensors/kitchen/motion", "[1, 2, 3]");
  mqtt_publish(broker.port(), dir, "sensors/kitchen/motion", R"({"sensor": 7})"); // the function refuses it
  mqtt_publish(broker.port(), dir, "sensors/hall/motion", R"({"sensor": 8, "ts": 1700000000002, "state": "off"})");
  line = sub->wait_for_line("lights/hall ", std::chrono::seconds(10));
  REQUIRE(line);
  CHECK_THAT(*line, Catch::Contains("\"light\":\"off\""));
  CHECK(wait_until([&] { return gateway_metric(port, "spry_mqtt_messages_total{result=\"failed\"}") == 1; },
                   std::chrono::seconds(5)));
  CHECK(gateway_metric(port, "spry_mqtt_messages_total{result=\"rejected\"}") == 2);
  CHECK(gateway_metric(port, "spry_mqtt_messages_total{result=\"ok\"}") == 2);
  CHECK(gateway_metric(port, "spry_adapter_rejected_total{adapter=\"mqtt-json\"}") == 2);
  CHECK(gateway_metric(port, "spry_pool_buffers{chain=\"motion\",state=\"in_use\"}") == 0);
  const auto log = spry::bench::read_file(dir.path + "/spry.log");
  CHECK_THAT(log, Catch::Contains("payload is not valid JSON"));

  // The broker restarts mid-run: the gateway notices, reconnects with backoff, resubscribes.
  sub.reset();
  broker.stop();
  REQUIRE(wait_until([&] { return gateway_metric(port, "spry_mqtt_connected") == 0; }, std::chrono::seconds(10)));
  broker.start();
  REQUIRE(wait_until([&] { return gateway_metric(port, "spry_mqtt_connected") == 1; }, std::chrono::seconds(10)));
  CHECK(gateway_metric(port, "spry_mqtt_connects_total") >= 2);
  sub = mqtt_subscriber(broker.port(), dir, "lights/#");
  mqtt_publish(broker.port(), dir, "sensors/attic/motion", R"({"sensor": 9, "ts": 1700000000003, "state": "on"})");
  line = sub->wait_for_line("lights/attic ", std::chrono::seconds(10));
  REQUIRE(line);
  CHECK_THAT(*line, Catch::Contains("\"sensor\":9"));

  // A short, time-compressed replay of the intermittent trace through Paho: every event answered.
  spry::examples::motion::trace_options t;
  t.seed = 7;
  t.rooms = 3;
  t.duration_s = 600;
  spry::examples::motion::replay_options ro;
  ro.broker = broker.uri();
  ro.speedup = 200;
  ro.max_events = 40;
  ro.client_id = "spry-test-replay-" + std::to_string(getpid());
  const auto res = replay(make_trace(t), ro);
  REQUIRE(res.error.empty());
  CHECK(res.sent == 40);
  CHECK(res.answered == res.sent);
  std::printf("motion replay on %s: %zu/%zu answered, latency ms p50 %.2f p99 %.2f max %.2f\n",
              transport.c_str(), res.answered, res.sent, res.quantile(0.5), res.quantile(0.99),
              res.latency_ms.empty() ? -1.0 : res.latency_ms.back());
}

} // namespace

TEST_CASE("motion detection through mosquitto on local", "[integration][mqtt]") {
  motion_end_to_end("local");
}
TEST_CASE("motion detection through mosquitto on tcp", "[integration][mqtt][processes]") {
  motion_end_to_end("tcp");
}
TEST_CASE("motion detection through mosquitto on shm-skmsg", "[integration][mqtt][processes]") {
  if (geteuid() != 0) {
    WARN("SKIPPED: shm-skmsg needs root to load its eBPF program; this test did not run");
    return;
  }
  motion_end_to_end("shm-skmsg");
}

TEST_CASE("a gateway started before its broker connects when the broker comes up", "[integration][mqtt]") {
  if (!mqtt_tools_present())
    return;
  temp_dir dir;
  const uint16_t broker_port = free_port();
  child_process spry({SPRY_BINARY, "run",
                      dir.file("motion.yaml", motion_yaml("local", "tcp://127.0.0.1:" + std::to_string(broker_port))),
                      "--log-level", "warn"},
                     dir.path + "/spry.log");
  const uint16_t port = port_of(spry); // HTTP serves while MQTT has no broker yet
  CHECK(gateway_metric(port, "spry_mqtt_connected") == 0);
  mosquitto_broker broker(dir, broker_port);
  REQUIRE(wait_until([&] { return gateway_metric(port, "spry_mqtt_connected") == 1; }, std::chrono::seconds(10)));
  auto sub = mqtt_subscriber(broker.port(), dir, "lights/#");
  mqtt_publish(broker.port(), dir, "sensors/den/motion", R"({"sensor": 1, "ts": 5, "state": "on"})");
  REQUIRE(sub->wait_for_line("lights/den ", std::chrono::seconds(10)));
}

TEST_CASE("motion replay pre-warms every burst after a quiet gap, ahead of it", "[mqtt]") {
  using namespace spry::examples::motion;
  trace_options t;
  t.seed = 3;
  t.duration_s = 700;
  const auto trace = make_trace(t);
  REQUIRE(trace.size() > 10);
  replay_options ro;
  CHECK(warmup_times(trace, ro).empty()); // off by default
  ro.prewarm_lead_s = 10;
  ro.prewarm_gap_s = 60;
  const auto w = warmup_times(trace, ro);
  // One warm-up per event that follows >= 60 quiet seconds (and the first), 10 s before it but
  // never before the event ahead of it.
  size_t expected = 0, k = 0;
  for (size_t i = 0; i < trace.size(); ++i) {
    if (i && trace[i].t_s - trace[i - 1].t_s < ro.prewarm_gap_s)
      continue;
    ++expected;
    REQUIRE(k < w.size());
    CHECK(w[k] <= trace[i].t_s);
    CHECK(w[k] >= trace[i].t_s - ro.prewarm_lead_s - 1e-9);
    if (i)
      CHECK(w[k] >= trace[i - 1].t_s);
    ++k;
  }
  CHECK(w.size() == expected);
  CHECK(std::is_sorted(w.begin(), w.end()));
}
