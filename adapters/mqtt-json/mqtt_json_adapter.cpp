// The `mqtt-json` adapter: IoT devices that publish JSON objects (the motion sensors of
// examples/motion-detection). Every payload must be a JSON object; it becomes the `data` of a
// CloudEvent with subject = the MQTT topic, time = arrival time, source = the broker, and the
// chain's functions get that event as structured JSON. Anything else (not JSON, a JSON array or
// number, an empty payload) is refused with the reason: there is no reply channel for it, so the
// gateway counts and logs it. The chain's result goes back (to the reply topic) as it is.
#include "adapters/cloudevents/cloudevent.hpp"

namespace {

namespace ce = spry::adapters::cloudevents;
using nlohmann::json;

class mqtt_json_adapter final : public spry::core::adapter {
public:
  void ingress(const spry::core::adapter_request& in,
               spry::core::adapter_ingress& out) noexcept override {
    try {
      if (in.payload.empty()) {
        out.error = "empty payload (expected a JSON object)";
        return;
      }
      json data;
      try {
        data = json::parse(in.payload);
      } catch (const json::exception& x) {
        out.error = std::string("payload is not valid JSON: ") + x.what();
        return;
      }
      if (!data.is_object()) {
        out.error = std::string("payload must be a JSON object, got a JSON ") + data.type_name();
        return;
      }
      ce::write_structured(ce::wrap(in, "org.spry.mqtt.json", data), out);
    } catch (const std::exception& x) {
      out.error = std::string("mqtt-json adapter: ") + x.what();
    }
  }

  void egress(const spry::core::adapter_request&, uint32_t,
              spry::core::adapter_reply&) noexcept override {}
};

} // namespace

SPRY_ADAPTER_LIBRARY(registry) {
  registry.add("mqtt-json", [] { return std::make_unique<mqtt_json_adapter>(); });
}
