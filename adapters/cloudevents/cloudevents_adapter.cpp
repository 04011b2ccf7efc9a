// The `cloudevents` adapter: CloudEvents 1.0 in and out.
//
// HTTP: binary mode (ce-* headers, the body is the data) and structured mode (a
// application/cloudevents+json body) are accepted; anything else, a missing required attribute or
// bad JSON is refused (400) with the reason. The reply goes out in the mode the request came in.
// MQTT: a payload that is a structured event is validated and passed on (its subject defaults to
// the topic); any other payload is wrapped as the data of an event whose subject is the topic.
// Either way the chain's functions get the structured JSON document (see cloudevent.hpp for why).
#include "adapters/cloudevents/cloudevent.hpp"

namespace {

namespace ce = spry::adapters::cloudevents;
using nlohmann::json;

class cloudevents_adapter final : public spry::core::adapter {
public:
  void ingress(const spry::core::adapter_request& in,
               spry::core::adapter_ingress& out) noexcept override {
    try {
      std::string why;
      std::optional<json> e;
      if (in.protocol == "http") {
        const auto ct = in.content_type.substr(0, in.content_type.find(';'));
        if (ct == ce::structured_type) {
          e = ce::parse_structured(in.payload, why);
          out.reply_mode = ce::structured;
        } else if (!in.header("ce-specversion").empty()) {
          e = ce::from_binary(in, why);
          out.reply_mode = ce::binary;
        } else {
          out.error = "not a CloudEvent: send ce-specversion, ce-id, ce-source and ce-type "
                      "headers (binary mode) or a Content-Type: application/cloudevents+json "
                      "body (structured mode)";
          return;
        }
      } else {
        const bool looks_structured = in.payload.find("\"specversion\"") != std::string_view::npos;
        if (looks_structured) {
          e = ce::parse_structured(in.payload, why);
          if (e && !e->contains("subject"))
            (*e)["subject"] = std::string(in.topic);
        } else {
          json data;
          try {
            data = json::parse(in.payload);
          } catch (const json::exception&) {
            json probe = json::object();
            ce::set_data(probe, in.payload, "text/plain");
            data = probe.contains("data") ? probe["data"] : json(probe["data_base64"]);
          }
          e = ce::wrap(in, "org.spry.mqtt.publish", data);
        }
      }
      if (!e) {
        out.error = why;
        return;
      }
      ce::write_structured(*e, out);
    } catch (const std::exception& x) {
      out.error = std::string("cloudevents adapter: ") + x.what();
    }
  }

  void egress(const spry::core::adapter_request& in, uint32_t reply_mode,
              spry::core::adapter_reply& reply) noexcept override {
    if (in.protocol != "http")
      return; // MQTT replies carry the chain's result as it is
    try {
      ce::to_http(in, reply_mode, reply);
    } catch (const std::exception& x) {
      reply.status = 502;
      reply.content_type = "text/plain";
      reply.body = std::string("cloudevents adapter: cannot encode the reply: ") + x.what() + "\n";
    }
  }
};

} // namespace

SPRY_ADAPTER_LIBRARY(registry) {
  registry.add("cloudevents", [] { return std::make_unique<cloudevents_adapter>(); });
}
