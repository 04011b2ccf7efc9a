#pragma once
// MQTT 5 reason codes (OASIS MQTT 5.0, 2.4): what a broker says in CONNACK, SUBACK, PUBACK and
// DISCONNECT, named for the gateway's log and errors. 0x00..0x7f are successes, 0x80 and above
// failures.

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace spry::gateway::mqtt_wire {

inline const char* reason_code_name(uint8_t code) noexcept {
  switch (code) {
    case 0x00: return "success";
    case 0x01: return "granted QoS 1";
    case 0x02: return "granted QoS 2";
    case 0x04: return "disconnect with will message";
    case 0x10: return "no matching subscribers";
    case 0x11: return "no subscription existed";
    case 0x18: return "continue authentication";
    case 0x19: return "re-authenticate";
    case 0x80: return "unspecified error";
    case 0x81: return "malformed packet";
    case 0x82: return "protocol error";
    case 0x83: return "implementation specific error";
    case 0x84: return "unsupported protocol version (the broker does not speak MQTT 5: use mqtt.protocol: 3.1.1)";
    case 0x85: return "client identifier not valid (mqtt.client_id)";
    case 0x86: return "bad user name or password";
    case 0x87: return "not authorized (the broker's ACL or allow_anonymous)";
    case 0x88: return "server unavailable";
    case 0x89: return "server busy";
    case 0x8a: return "banned";
    case 0x8b: return "server shutting down";
    case 0x8c: return "bad authentication method";
    case 0x8d: return "keep alive timeout";
    case 0x8e: return "session taken over (another client connected with this client id)";
    case 0x8f: return "topic filter invalid";
    case 0x90: return "topic name invalid";
    case 0x91: return "packet identifier in use";
    case 0x92: return "packet identifier not found";
    case 0x93: return "receive maximum exceeded";
    case 0x94: return "topic alias invalid";
    case 0x95: return "packet too large";
    case 0x96: return "message rate too high";
    case 0x97: return "quota exceeded";
    case 0x98: return "administrative action";
    case 0x99: return "payload format invalid";
    case 0x9a: return "retain not supported";
    case 0x9b: return "QoS not supported";
    case 0x9c: return "use another server";
    case 0x9d: return "server moved";
    case 0x9e: return "shared subscriptions not supported";
    case 0x9f: return "connection rate exceeded";
    case 0xa0: return "maximum connect time";
    case 0xa1: return "subscription identifiers not supported";
    case 0xa2: return "wildcard subscriptions not supported";
    default: return "unknown reason code";
  }
}

/// "0x87 not authorized ...", plus ": REASON STRING" when the broker sent one.
inline std::string describe_reason(uint8_t code, std::string_view reason_string = {}) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", code);
  std::string out = std::string(hex) + " " + reason_code_name(code);
  if (!reason_string.empty())
    out += ": " + std::string(reason_string);
  return out;
}

} // namespace spry::gateway::mqtt_wire
