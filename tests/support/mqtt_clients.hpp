#pragma once
// mosquitto's command-line clients and a gateway's /metrics as the MQTT integration tests use
// them: a mosquitto_sub whose subscription is acknowledged before the test goes on, QoS 1
// publishes that succeed or fail the test, and polling a gateway metric until it reaches a value
// (no timed assertions: a deadline only bounds how long a failing test waits). Every process is
// a child_process, stopped by its PID when it goes out of scope.

#include "bench/load/child_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/mosquitto.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace spry::test {

/// false, with a WARN saying the test did not run, without mosquitto or its clients.
inline bool mqtt_tools_present() {
  if (mosquitto_binary().empty() || !mosquitto_clients_present()) {
    WARN("SKIPPED: mosquitto or mosquitto-clients is not installed (scripts/setup installs "
         "them); this MQTT test did not run");
    return false;
  }
  return true;
}

/// The value of one series of the gateway's /metrics, -1 when it is absent.
inline double gateway_metric(uint16_t port, const std::string& series) {
  auto m = http_request(port, "GET", "/metrics");
  REQUIRE(m);
  auto v = metric_value(m->body, series);
  return v ? *v : -1;
}

/// Polls `f` (a scrape of the gateway's /metrics, so every 20 ms) until it holds or `within`
/// passed; returns its last value.
inline bool wait_until(const std::function<bool()>& f, std::chrono::milliseconds within) {
  return eventually(f, within, std::chrono::milliseconds(20));
}

/// A QoS 1 mosquitto_sub on `filter` printing "TOPIC PAYLOAD" lines, returned once its
/// subscription is acknowledged (-d prints SUBACK). stdbuf makes its stdout line-buffered: on a
/// pipe it would hold every line until it exits.
inline std::unique_ptr<bench::child_process> mqtt_subscriber(uint16_t port, const temp_dir& dir,
                                                             const std::string& filter) {
  auto sub = std::make_unique<bench::child_process>(
    std::vector<std::string>{"/usr/bin/stdbuf", "-oL", "/usr/bin/mosquitto_sub", "-h", "127.0.0.1",
                             "-p", std::to_string(port), "-t", filter, "-v", "-q", "1", "-d"},
    dir.path + "/sub.log");
  REQUIRE(sub->wait_for_line("SUBACK", std::chrono::seconds(5)));
  return sub;
}

/// Publishes each of `lines` as one QoS 1 message on `topic` (one mosquitto_pub -l, the payloads
/// read from a file so that no shell quoting applies to them).
inline void mqtt_publish_lines(uint16_t port, const temp_dir& dir, const std::string& topic,
                               const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines)
    text += l + "\n";
  const auto file = dir.file("lines.txt", text);
  auto [code, out] = run_command("/usr/bin/mosquitto_pub -h 127.0.0.1 -p " + std::to_string(port) +
                                 " -q 1 -t '" + topic + "' -l < " + file);
  INFO(out);
  REQUIRE(code == 0);
}

/// One QoS 1 message.
inline void mqtt_publish(uint16_t port, const temp_dir& dir, const std::string& topic,
                         const std::string& payload) {
  mqtt_publish_lines(port, dir, topic, {payload});
}

/// Reads lines "PREFIX... PAYLOAD" from `sub` until every payload of `want` was seen (or
/// `within`). Returns how many times each payload was seen.
inline std::map<std::string, int> mqtt_collect(bench::child_process& sub, const std::string& prefix,
                                               const std::set<std::string>& want,
                                               std::chrono::milliseconds within) {
  std::map<std::string, int> seen;
  const auto deadline = std::chrono::steady_clock::now() + within;
  size_t distinct = 0;
  while (distinct < want.size() && std::chrono::steady_clock::now() < deadline) {
    auto line = sub.wait_for_line(prefix, std::chrono::duration_cast<std::chrono::milliseconds>(
                                            deadline - std::chrono::steady_clock::now()));
    if (!line)
      break;
    const auto space = line->find(' ');
    if (space == std::string::npos)
      continue;
    const auto payload = line->substr(space + 1);
    if (seen[payload]++ == 0 && want.count(payload))
      ++distinct;
  }
  return seen;
}

/// `spry run` of the app `yaml` (written to dir/yaml_name), its log in dir/log; returns once its
/// MQTT ingress is connected, with its HTTP port in `port`.
inline std::unique_ptr<bench::child_process> start_mqtt_gateway(const temp_dir& dir,
                                                                const std::string& yaml_name,
                                                                const std::string& yaml,
                                                                const std::string& log,
                                                                uint16_t& port) {
  auto p = std::make_unique<bench::child_process>(
    std::vector<std::string>{SPRY_BINARY, "run", dir.file(yaml_name, yaml), "--log-level", "info"},
    dir.path + "/" + log);
  port = port_of(*p);
  REQUIRE(wait_until([&] { return gateway_metric(port, "spry_mqtt_connected") == 1; },
                     std::chrono::seconds(10)));
  return p;
}

/// How often `needle` occurs in `text` (log lines that must appear once).
inline size_t occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (auto i = text.find(needle); i != std::string::npos; i = text.find(needle, i + 1))
    ++n;
  return n;
}

} // namespace spry::test
