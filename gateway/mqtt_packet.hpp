#pragma once
// MQTT 3.1.1 control packets as bytes (OASIS MQTT 3.1.1, chapters 2 and 3): what the gateway's
// own MQTT client writes and reads. Pure functions on strings: the client (mqtt_client) calls
// them on its threads, the unit tests and the fuzz harness call them directly.
//
// Why spry speaks MQTT itself instead of through Paho: Paho MQTT C 1.3.12 (Debian 12) sends the
// PUBACK of a QoS 1 PUBLISH right after the arrival callback returns (MQTTProtocol_handlePublishes
// calls Protocol_processPublication, which runs the callback, then MQTTPacket_send_puback) and has
// no manual-acknowledge API; returning false from the callback only makes Paho call it again from
// its own queue, the PUBACK has gone already. Deferring the acknowledgement until a chain has run
// would mean blocking Paho's receive thread for the whole chain, one message at a time. The
// subscriber side of MQTT 3.1.1 is small enough to own: here a QoS 1 message is acknowledged when
// its chain has finished or failed for good.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spry::gateway::mqtt_wire {

enum packet_type : uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
};

/// The largest remaining length MQTT's 4-byte variable-length encoding can express.
constexpr uint32_t max_remaining_length = 268435455;

// -- encoding ------------------------------------------------------------------------------------

inline void put_u16(std::string& out, uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

inline void put_str(std::string& out, std::string_view s) {
  put_u16(out, static_cast<uint16_t>(s.size()));
  out.append(s);
}

inline void put_remaining_length(std::string& out, size_t n) {
  do {
    uint8_t b = n % 128;
    n /= 128;
    if (n > 0)
      b |= 0x80;
    out += static_cast<char>(b);
  } while (n > 0);
}

inline std::string frame(uint8_t first_byte, const std::string& body) {
  std::string out;
  out.reserve(body.size() + 5);
  out += static_cast<char>(first_byte);
  put_remaining_length(out, body.size());
  out += body;
  return out;
}

/// CONNECT, protocol level 4 (3.1.1), no will, no credentials. `client_id` at most 65535 bytes.
inline std::string encode_connect(std::string_view client_id, bool clean_session,
                                  uint16_t keepalive_s) {
  std::string body;
  put_str(body, "MQTT");
  body += static_cast<char>(4);
  body += static_cast<char>(clean_session ? 0x02 : 0x00);
  put_u16(body, keepalive_s);
  put_str(body, client_id);
  return frame(connect << 4, body);
}

inline std::string encode_subscribe(uint16_t packet_id,
                                    const std::vector<std::pair<std::string, int>>& filters) {
  std::string body;
  put_u16(body, packet_id);
  for (const auto& [filter, qos] : filters) {
    put_str(body, filter);
    body += static_cast<char>(qos);
  }
  return frame(subscribe << 4 | 0x02, body); // the reserved flags of SUBSCRIBE are 0010
}

/// PUBLISH; `packet_id` is ignored for QoS 0.
inline std::string encode_publish(std::string_view topic, std::string_view payload, int qos,
                                  uint16_t packet_id, bool dup = false, bool retain = false) {
  std::string body;
  body.reserve(topic.size() + payload.size() + 4);
  put_str(body, topic);
  if (qos > 0)
    put_u16(body, packet_id);
  body.append(payload);
  return frame(static_cast<uint8_t>(publish << 4 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0)),
               body);
}

inline std::string encode_puback(uint16_t packet_id) {
  std::string out{static_cast<char>(puback << 4), 2};
  put_u16(out, packet_id);
  return out;
}

inline std::string encode_pingreq() { return std::string{static_cast<char>(pingreq << 4), 0}; }
inline std::string encode_disconnect() {
  return std::string{static_cast<char>(disconnect << 4), 0};
}

// -- decoding ------------------------------------------------------------------------------------

enum class parse_status { need_more, ok, malformed };

struct fixed_header {
  uint8_t type = 0;
  uint8_t flags = 0;          ///< the low nibble of the first byte
  uint32_t remaining = 0;     ///< bytes after the fixed header
  uint32_t header_size = 0;   ///< 2..5
};

/// Reads the fixed header at the start of `in`.
inline parse_status parse_fixed_header(std::string_view in, fixed_header& out, std::string& why) {
  if (in.size() < 2)
    return parse_status::need_more;
  const auto first = static_cast<uint8_t>(in[0]);
  out.type = first >> 4;
  out.flags = first & 0x0f;
  if (out.type == 0 || out.type == 15) {
    why = "packet type " + std::to_string(out.type) + " is reserved";
    return parse_status::malformed;
  }
  uint32_t value = 0, multiplier = 1;
  for (size_t i = 1;; ++i) {
    if (i > 4) {
      why = "remaining length longer than 4 bytes";
      return parse_status::malformed;
    }
    if (i >= in.size())
      return parse_status::need_more;
    const auto b = static_cast<uint8_t>(in[i]);
    value += (b & 0x7f) * multiplier;
    multiplier *= 128;
    if (!(b & 0x80)) {
      out.remaining = value;
      out.header_size = static_cast<uint32_t>(i + 1);
      return parse_status::ok;
    }
  }
}

inline uint16_t get_u16(std::string_view in, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(in[at]) << 8 | static_cast<uint8_t>(in[at + 1]));
}

struct publish_header {
  std::string_view topic;
  int qos = 0;
  bool dup = false;
  bool retain = false;
  uint16_t packet_id = 0;
  uint32_t size = 0; ///< bytes of the variable header: topic length, topic, packet id
};

/// The variable header of a PUBLISH whose fixed header had `flags` and `remaining`; `body` is
/// what has been read of the packet after its fixed header (may be a prefix: need_more).
inline parse_status parse_publish_header(uint8_t flags, uint32_t remaining, std::string_view body,
                                         publish_header& out, std::string& why) {
  out = publish_header{};
  out.dup = flags & 0x08;
  out.qos = (flags >> 1) & 0x03;
  out.retain = flags & 0x01;
  if (out.qos == 3) {
    why = "PUBLISH with QoS 3";
    return parse_status::malformed;
  }
  if (out.qos == 0 && out.dup) {
    why = "PUBLISH with QoS 0 and DUP set";
    return parse_status::malformed;
  }
  if (remaining < 2) {
    why = "PUBLISH shorter than its topic length";
    return parse_status::malformed;
  }
  if (body.size() < 2)
    return parse_status::need_more;
  const uint32_t topic_len = get_u16(body, 0);
  out.size = 2 + topic_len + (out.qos > 0 ? 2 : 0);
  if (out.size > remaining) {
    why = "PUBLISH topic length " + std::to_string(topic_len) + " runs past the packet";
    return parse_status::malformed;
  }
  if (body.size() < out.size)
    return parse_status::need_more;
  out.topic = body.substr(2, topic_len);
  if (out.topic.empty()) {
    why = "PUBLISH with an empty topic";
    return parse_status::malformed;
  }
  if (out.topic.find_first_of(std::string_view("+#\0", 3)) != std::string_view::npos) {
    why = "PUBLISH topic contains a wildcard or NUL";
    return parse_status::malformed;
  }
  if (out.qos > 0) {
    out.packet_id = get_u16(body, 2 + topic_len);
    if (out.packet_id == 0) {
      why = "PUBLISH with packet identifier 0";
      return parse_status::malformed;
    }
  }
  return parse_status::ok;
}

} // namespace spry::gateway::mqtt_wire
