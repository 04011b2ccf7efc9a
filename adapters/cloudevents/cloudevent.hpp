#pragma once
// CloudEvents 1.0 (https://github.com/cloudevents/spec, v1.0.2) as the stock adapters use it:
// validation of required attributes, HTTP binary <-> structured JSON, and wrapping a protocol
// payload (an MQTT PUBLISH) as an event. Shared by adapters/cloudevents and adapters/mqtt-json;
// compiled into each adapter library (no spry symbols: adapters link nothing of the gateway).
//
// Functions see every event in structured mode: the payload is the event's JSON document
// (application/cloudevents+json) with the attributes and `data` side by side. Why not an
// attribute accessor in the message API: attributes would need room in the 256-byte buffer
// header (a wire struct every transport copies and every function library is built against) or a
// side channel that copying transports (tcp) would have to carry; the structured document needs
// neither, survives every hop on every transport unchanged, and is the representation other
// serverless platforms (Knative, OpenFaaS connectors) hand to functions already.

#include "core/adapter.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spry::adapters::cloudevents {

inline constexpr std::string_view structured_type = "application/cloudevents+json";

/// How the request came in, so the reply goes out the same way (adapter_ingress::reply_mode).
enum reply_mode : uint32_t { plain = 0, binary = 1, structured = 2 };

/// "" if `e` is a valid CloudEvents 1.0 event in JSON format, else why not.
std::string validate(const nlohmann::json& e);

/// RFC 3339 UTC time with milliseconds ("2024-05-01T12:00:00.123Z").
std::string rfc3339(uint64_t unix_ms);

/// true for application/json, text/json and any +json type (parameters ignored).
bool is_json_type(std::string_view content_type);

/// Puts `payload` into `e` as `data`: parsed JSON for JSON types (an error text if it does not
/// parse), a string for text/*, else `data_base64`. Returns "" or the reason.
std::string set_data(nlohmann::json& e, std::string_view payload, std::string_view content_type);

/// Parses a structured event from bytes; nullopt with `why` set when it is not one.
std::optional<nlohmann::json> parse_structured(std::string_view bytes, std::string& why);

/// The event an HTTP binary-mode request (ce-* headers + body) carries, or nullopt with `why`.
std::optional<nlohmann::json> from_binary(const core::adapter_request& in, std::string& why);

/// The event an MQTT 5 binary-mode PUBLISH carries (CloudEvents MQTT binding 3.1): attributes
/// from the User Properties (adapter_request::headers; names unchanged, properties that are not
/// attribute names skipped, a repeated attribute refused), datacontenttype from the Content Type
/// property, the payload as the data; subject defaults to the topic. nullopt with `why`.
std::optional<nlohmann::json> from_mqtt_binary(const core::adapter_request& in, std::string& why);

/// A protocol payload wrapped as an event: id, source = origin, type, subject = topic, time =
/// arrival time; `data` from the payload (JSON when it parses, else as set_data decides).
nlohmann::json wrap(const core::adapter_request& in, std::string_view type,
                    const nlohmann::json& data);

/// Writes `e` into the chain's buffer as a structured event (or sets out.error if too large).
void write_structured(const nlohmann::json& e, core::adapter_ingress& out);

/// Rewrites a chain result as a CloudEvent in `mode` (binary: ce-* headers + data as the body;
/// structured: the JSON document). Results that are errors (status >= 400) are left alone.
void to_http(const core::adapter_request& in, uint32_t mode, core::adapter_reply& reply);

/// Rewrites a chain result for an MQTT reply: in `structured` mode the JSON event (a result that
/// is one already is validated, any other becomes the `data` of an event whose subject is the
/// reply's topic) with content type application/cloudevents+json (MQTT 5 sends it as the Content
/// Type property); in `binary` mode (MQTT 5 only) the attributes as `headers` (User Properties,
/// names without prefix, values unencoded), datacontenttype as content_type, the data as the
/// body; `plain` leaves the result as the chain made it. An invalid event from the chain sets
/// status 502 and the reason in the body.
void to_mqtt(const core::adapter_request& in, uint32_t mode, core::adapter_reply& reply);

/// HTTP binary mode header values (CloudEvents HTTP binding 1.0.2, 3.1.3.2): a sender
/// percent-encodes space, '"', '%' and every byte outside printable ASCII (the UTF-8 bytes of
/// non-ASCII text); a receiver decodes %XX. percent_decode returns nullopt for a '%' not followed
/// by two hex digits, and for a result that is not valid UTF-8.
std::string percent_encode(std::string_view value);
std::optional<std::string> percent_decode(std::string_view value);

std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

} // namespace spry::adapters::cloudevents
