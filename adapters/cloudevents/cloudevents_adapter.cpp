// The `cloudevents` adapter: CloudEvents 1.0 in and out.
//
// HTTP: binary mode (ce-* headers, the body is the data) and structured mode (a
// application/cloudevents+json body) are accepted; anything else, a missing required attribute or
// bad JSON is refused (400) with the reason. The reply goes out in the mode the request came in.
// MQTT (CloudEvents MQTT protocol binding 1.0.2): a payload that is a structured event is
// validated and passed on (its subject defaults to the topic), and the chain's result goes to the
// reply topic as a structured event too. With MQTT 5 a PUBLISH whose User Properties carry
// `specversion` (or any PUBLISH on a `content_mode: binary` subscription) is a binary-mode event:
// attributes in User Properties, datacontenttype in the Content Type property, the payload is the
// data; its reply goes out the same way, unless its Content Type says application/cloudevents
// (binding section 3: then it is structured). Any other payload is wrapped as the data of an
// event whose subject is the topic, and its result goes out as the chain made it, unless the
// subscription says `content_mode: structured` (with 3.1.1 the gateway also passes that as the
// content type 3.1.1 lacks): then every payload must be a structured event and every reply is
// one. Either way the chain's functions get the structured JSON document (see cloudevent.hpp for
// why).
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
        std::string_view media = in.content_type.substr(0, in.content_type.find(';'));
        while (!media.empty() && media.back() == ' ')
          media.remove_suffix(1);
        const bool says_cloudevents = media.substr(0, 23) == "application/cloudevents";
        const bool binary_declared = in.content_mode == "binary";
        const bool declared = in.content_mode == "structured" || media == ce::structured_type;
        const bool looks_binary = in.protocol_version >= 5 && !says_cloudevents &&
                                  (binary_declared || (!declared && !in.header("specversion").empty()));
        const bool looks_structured =
          declared || in.payload.find("\"specversion\"") != std::string_view::npos;
        if (looks_binary) {
          e = ce::from_mqtt_binary(in, why);
          if (!e && binary_declared && in.header("specversion").empty())
            why += " (this subscription has content_mode: binary: every PUBLISH must carry the "
                   "event's attributes as MQTT 5 user properties)";
          out.reply_mode = ce::binary;
        } else if (looks_structured) {
          e = ce::parse_structured(in.payload, why);
          if (!e && declared)
            why += " (this subscription has content_mode: structured: every payload must be a "
                   "CloudEvent in JSON)";
          if (e && !e->contains("subject"))
            (*e)["subject"] = std::string(in.topic);
          out.reply_mode = ce::structured;
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
    try {
      if (in.protocol == "http")
        ce::to_http(in, reply_mode, reply);
      else
        ce::to_mqtt(in, reply_mode, reply);
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
