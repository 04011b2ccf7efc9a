// Integration: what the MQTT ingress promises about delivery, against a real mosquitto started
// by the test on a free loopback port and stopped by its PID, with `spry run` gateways started
// and stopped (SIGTERM, SIGKILL) by theirs:
// - messages published while the gateway is stopped are processed once it starts again
//   (persistent session);
// - a gateway SIGKILLed with messages in its chains gets them again from the broker (QoS 1 is
//   acknowledged after the chain), and the redelivery is counted;
// - two gateways in one shared subscription process each message once;
// - a malformed and an oversized message are counted, logged and acknowledged: after a restart
//   nothing comes back.
// The chain is the fault library's test.burn: it burns the CPU for the microseconds its payload
// starts with and answers with the payload, which the reply topic done/<level 2> carries.
#include "bench/load/child_process.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/mosquitto.hpp"
#include "tests/support/mqtt_clients.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <unistd.h>

#include <set>
#include <thread>

using namespace spry::test;
using spry::bench::child_process;

namespace {

std::string burn_yaml(const std::string& broker, const std::string& client_id,
                      const std::string& extra_mqtt = {}) {
  return "app: burn\ntransport: local\nlibraries: [" SPRY_FAULT_LIBRARY "]\n"
         "adapters:\n  - { name: mqtt-json, library: " SPRY_MQTT_JSON_ADAPTER " }\n"
         "gateway: {listen: '127.0.0.1:0'}\n"
         "mqtt:\n  broker: " + broker + "\n  client_id: " + client_id +
         "\n  reconnect_min: 50ms\n  reconnect_max: 500ms\n" + extra_mqtt +
         "  subscriptions:\n"
         "    - { filter: work/+, chain: burn, qos: 1, reply_topic: 'done/{2}', reply_qos: 1 }\n"
         "    - { filter: json/+, chain: burn, qos: 1, adapter: mqtt-json }\n"
         "functions:\n  - { name: burn, handler: test.burn }\n"
         "chains:\n  - { name: burn, functions: [burn], pool: { buffers: 64, buffer_size: 4KiB },"
         " timeout: 20s }\n";
}

} // namespace

TEST_CASE("MQTT messages published while the gateway is stopped are processed when it starts",
          "[integration][mqtt]") {
  if (!mqtt_tools_present())
    return;
  temp_dir dir;
  mosquitto_broker broker(dir);
  const auto yaml = burn_yaml(broker.uri(), "spry-test-offline-" + std::to_string(getpid()));
  uint16_t port = 0;
  auto gw = start_mqtt_gateway(dir, "burn.yaml", yaml, "spry1.log", port); // the broker learns the session
  CHECK(gateway_metric(port, "spry_mqtt_sessions_resumed_total") == 0);
  REQUIRE(gw->stop(SIGTERM, std::chrono::seconds(10)));
  gw.reset();

  auto sub = mqtt_subscriber(broker.port(), dir, "done/#");
  std::vector<std::string> lines;
  std::set<std::string> want;
  for (int i = 0; i < 30; ++i) {
    lines.push_back("200 offline-" + std::to_string(i));
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
  CHECK(gateway_metric(port, "spry_pool_buffers{chain=\"burn\",state=\"in_use\"}") == 0);
}

TEST_CASE("MQTT messages in the chains of a SIGKILLed gateway are processed again",
          "[integration][mqtt]") {
  if (!mqtt_tools_present())
    return;
  temp_dir dir;
  mosquitto_broker broker(dir);
  const auto yaml = burn_yaml(broker.uri(), "spry-test-kill-" + std::to_string(getpid()));
  uint16_t port = 0;
  auto gw = start_mqtt_gateway(dir, "burn.yaml", yaml, "spry1.log", port);
  auto sub = mqtt_subscriber(broker.port(), dir, "done/#");

  // 12 messages of 300 ms of CPU each: the first reply comes while most are still queued or
  // running in the gateway, received and not acknowledged.
  std::vector<std::string> lines;
  std::set<std::string> want;
  for (int i = 0; i < 12; ++i) {
    lines.push_back("300000 kill-" + std::to_string(i));
    want.insert(lines.back());
  }
  mqtt_publish_lines(broker.port(), dir, "work/b", lines);
  const auto first = sub->wait_for_line("done/b ", std::chrono::seconds(20));
  REQUIRE(first);
  REQUIRE(wait_until([&] { return gateway_metric(port, "spry_mqtt_received_total") == 12; },
                     std::chrono::seconds(10)));
  const double done_before = gateway_metric(port, "spry_mqtt_messages_total{result=\"ok\"}");
  INFO("done " << done_before << " of 12 when killed");
  CHECK(done_before < 12);
  REQUIRE(gw->stop(SIGKILL, std::chrono::seconds(10)));
  gw.reset();

  gw = start_mqtt_gateway(dir, "burn.yaml", yaml, "spry2.log", port);
  // The first reply came before the kill (that message was acknowledged, or comes again).
  std::set<std::string> rest = want;
  rest.erase(first->substr(first->find(' ') + 1));
  REQUIRE(rest.size() == 11);
  const auto seen = mqtt_collect(*sub, "done/", rest, std::chrono::seconds(30));
  for (const auto& w : rest)
    CHECK(seen.count(w) == 1);
  // What the killed gateway had not acknowledged came back marked as a possible duplicate.
  CHECK(gateway_metric(port, "spry_mqtt_redelivered_total") >= 1);
  CHECK(wait_until([&] { return gateway_metric(port, "spry_mqtt_redelivered_total") ==
                                gateway_metric(port, "spry_mqtt_received_total"); },
                   std::chrono::seconds(5)));
}

TEST_CASE("two MQTT gateways in one shared subscription process each message once",
          "[integration][mqtt]") {
  if (!mqtt_tools_present())
    return;
  temp_dir dir;
  mosquitto_broker broker(dir);
  const std::string share = "  share_group: spry-burn\n";
  const auto tag = std::to_string(getpid());
  uint16_t port_a = 0, port_b = 0;
  auto a = start_mqtt_gateway(dir, "a.yaml", burn_yaml(broker.uri(), "spry-test-share-a-" + tag, share),
                         "a.log", port_a);
  auto b = start_mqtt_gateway(dir, "b.yaml", burn_yaml(broker.uri(), "spry-test-share-b-" + tag, share),
                         "b.log", port_b);
  auto sub = mqtt_subscriber(broker.port(), dir, "done/#");
  std::vector<std::string> lines;
  std::set<std::string> want;
  for (int i = 0; i < 40; ++i) {
    lines.push_back("100 share-" + std::to_string(i));
    want.insert(lines.back());
  }
  mqtt_publish_lines(broker.port(), dir, "work/c", lines);
  auto seen = mqtt_collect(*sub, "done/", want, std::chrono::seconds(20));
  for (const auto& w : want)
    CHECK(seen.count(w) == 1);
  const double ok_a = gateway_metric(port_a, "spry_mqtt_messages_total{result=\"ok\"}");
  const double ok_b = gateway_metric(port_b, "spry_mqtt_messages_total{result=\"ok\"}");
  INFO("gateway a " << ok_a << ", gateway b " << ok_b);
  CHECK(ok_a + ok_b == 40);
  CHECK(gateway_metric(port_a, "spry_mqtt_received_total") + gateway_metric(port_b, "spry_mqtt_received_total") == 40);
  CHECK(ok_a > 0);
  CHECK(ok_b > 0);
  // No duplicates arrive late either: one more message after the burst, and still one reply each.
  mqtt_publish_lines(broker.port(), dir, "work/c", {"100 share-last"});
  seen = mqtt_collect(*sub, "done/", {"100 share-last"}, std::chrono::seconds(10));
  CHECK(seen["100 share-last"] == 1);
  for (const auto& [payload, n] : seen)
    CHECK(n == 1);
}

TEST_CASE("a malformed or oversized MQTT message is counted, logged and acknowledged",
          "[integration][mqtt]") {
  if (!mqtt_tools_present())
    return;
  temp_dir dir;
  mosquitto_broker broker(dir);
  const auto yaml = burn_yaml(broker.uri(), "spry-test-bad-" + std::to_string(getpid()),
                              "  max_message_size: 1KiB\n");
  uint16_t port = 0;
  auto gw = start_mqtt_gateway(dir, "burn.yaml", yaml, "spry1.log", port);
  auto sub = mqtt_subscriber(broker.port(), dir, "done/#");

  mqtt_publish_lines(broker.port(), dir, "json/x", {"not json"});
  const auto big = dir.file("big.bin", std::string(4096, 'x'));
  auto [code, out] = run_command("/usr/bin/mosquitto_pub -h 127.0.0.1 -p " +
                                 std::to_string(broker.port()) + " -q 1 -t work/big -f " + big);
  INFO(out);
  REQUIRE(code == 0);
  mqtt_publish_lines(broker.port(), dir, "work/d", {"100 after-bad"});
  const auto seen = mqtt_collect(*sub, "done/", {"100 after-bad"}, std::chrono::seconds(10));
  CHECK(seen.count("100 after-bad") == 1);
  CHECK(wait_until([&] { return gateway_metric(port, "spry_mqtt_messages_total{result=\"rejected\"}") == 2; },
                   std::chrono::seconds(5)));
  CHECK(gateway_metric(port, "spry_mqtt_oversized_total") == 1);
  CHECK(gateway_metric(port, "spry_mqtt_messages_total{result=\"ok\"}") == 1);
  CHECK(gateway_metric(port, "spry_pool_buffers{chain=\"burn\",state=\"in_use\"}") == 0);

  // Acknowledged, so a restarted gateway on the same persistent session gets neither again.
  REQUIRE(gw->stop(SIGTERM, std::chrono::seconds(10)));
  gw.reset();
  gw = start_mqtt_gateway(dir, "burn.yaml", yaml, "spry2.log", port);
  CHECK(gateway_metric(port, "spry_mqtt_sessions_resumed_total") == 1);
  mqtt_publish_lines(broker.port(), dir, "work/d", {"100 after-restart"});
  CHECK(mqtt_collect(*sub, "done/", {"100 after-restart"}, std::chrono::seconds(10)).count("100 after-restart") == 1);
  CHECK(gateway_metric(port, "spry_mqtt_received_total") == 1);
  CHECK(gateway_metric(port, "spry_mqtt_messages_total{result=\"rejected\"}") == 0);
  const auto log = spry::bench::read_file(dir.path + "/spry1.log") +
                   spry::bench::read_file(dir.path + "/spry2.log");
  CHECK(occurrences(log, "payload is not valid JSON") == 1);
}
