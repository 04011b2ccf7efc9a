// The motion-detection chain (SPRIGHT's IoT evaluation, section 4.1): a motion sensor publishes
// {"sensor": id, "ts": unix_ms, "state": "on"|"off"} on sensors/<room>/motion; `sensor` checks
// the event, `actuator` decides the light and answers on lights/<room>.
//
// Each function burns its published CPU service time (1 ms, workloads/motion-detection.yaml) on
// the CPU, never sleeping, so autoscaling and idle-CPU measurements see a real service time.
//
// Input is a CloudEvent in structured JSON (the mqtt-json and cloudevents adapters hand every
// event to the chain that way): the reading is its `data`. The room is, first found of:
//   - the event's `subject`: the MQTT topic "sensors/<room>/motion" (what mqtt-json sets), or
//     just "<room>";
//   - the chain's topic: "sensors/<room>/motion" on MQTT, "<room>" for HTTP `POST
//     /motion/<room>` (the path below the chain's prefix).
// So a binary-mode CloudEvent over HTTP needs no MQTT-style subject: `POST /motion/kitchen`, or
// `ce-subject: kitchen`, names the room. A plain reading without the envelope is accepted too,
// with the room taken from the chain's topic, so the chain also runs without an adapter.
#include "core/function_library.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace {

using nlohmann::json;

constexpr auto service_time = std::chrono::microseconds(1000);

void burn(std::chrono::microseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  volatile uint64_t x = 0;
  while (std::chrono::steady_clock::now() < until)
    for (int i = 0; i < 256; ++i)
      x = x + static_cast<uint64_t>(i);
}

// "sensors/<room>/motion" -> "<room>"; a single level "<room>" is the room itself; anything
// else names none.
std::string room_of(std::string_view topic) {
  const auto a = topic.find('/');
  if (a == std::string_view::npos)
    return std::string(topic);
  const auto b = topic.find('/', a + 1);
  if (b == std::string_view::npos || topic.substr(0, a) != "sensors" ||
      topic.substr(b + 1) != "motion")
    return {};
  return std::string(topic.substr(a + 1, b - a - 1));
}

// The reading and its room, or a reason why the event is not one.
bool reading_of(spry::core::message& m, json& reading, std::string& room, std::string& why) {
  json e;
  try {
    e = json::parse(m.payload());
  } catch (const json::exception& x) {
    why = std::string("not JSON: ") + x.what();
    return false;
  }
  if (e.is_object() && e.contains("specversion")) {
    reading = e.value("data", json());
    const auto subject = e.value("subject", std::string());
    room = room_of(subject);
    if (room.empty() && subject.empty())
      room = room_of(m.topic());
  } else {
    reading = e;
    room = room_of(m.topic());
  }
  if (!reading.is_object()) {
    why = "the reading must be a JSON object {sensor, ts, state}";
    return false;
  }
  if (!reading.contains("sensor") || !(reading["sensor"].is_number() || reading["sensor"].is_string())) {
    why = "missing 'sensor' (the sensor's id)";
    return false;
  }
  if (!reading.contains("ts") || !reading["ts"].is_number_integer()) {
    why = "missing 'ts' (unix time in ms)";
    return false;
  }
  const auto state = reading.value("state", std::string());
  if (state != "on" && state != "off") {
    why = "'state' must be \"on\" or \"off\"";
    return false;
  }
  if (room.empty()) {
    why = "no room: name it in the event's subject (sensors/<room>/motion or <room>), in the "
          "path (POST /motion/<room>) or in the MQTT topic (sensors/<room>/motion)";
    return false;
  }
  return true;
}

} // namespace

SPRY_FUNCTION_LIBRARY(registry) {
  registry.add("motion.sensor", [](spry::core::message& m) {
    json reading;
    std::string room, why;
    if (!reading_of(m, reading, room, why))
      return m.fail("bad motion event: " + why, 400);
    burn(service_time);
    // The payload goes on unchanged: the actuator reads the same event.
  });
  registry.add("motion.actuator", [](spry::core::message& m) {
    json reading;
    std::string room, why;
    if (!reading_of(m, reading, room, why))
      return m.fail("bad motion event: " + why, 400);
    burn(service_time);
    json out = {{"room", room},
                {"light", reading["state"] == "on" ? "on" : "off"},
                {"sensor", reading["sensor"]},
                {"ts", reading["ts"]}};
    m.write(out.dump());
    m.set_content_type("application/json");
    m.set_topic("lights/" + room); // the MQTT reply topic ({topic} in the subscription)
  });
}
