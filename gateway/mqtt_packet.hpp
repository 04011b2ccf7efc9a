#pragma once
// MQTT 3.1.1 and MQTT 5 control packets as bytes (OASIS MQTT 3.1.1 and 5.0, chapters 2 and 3):
// what the gateway's own MQTT client writes and reads. `version` is the protocol level: 4 for
// 3.1.1, 5 for MQTT 5, whose packets carry properties (mqtt_properties.hpp). Pure functions on strings: the client (mqtt_client) calls
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

#include "gateway/mqtt_properties.hpp"
#include "gateway/mqtt_reason_code.hpp"

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
  auth = 15, ///< MQTT 5 only (reserved in 3.1.1)
};

/// Protocol levels in CONNECT.
constexpr int v311 = 4;
constexpr int v5 = 5;

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

/// CONNECT, no will, no credentials. `client_id` at most 65535 bytes. MQTT 5: `clean` is Clean
/// Start, and `session_expiry_s` (Session Expiry Interval; 0xffffffff: never) says how long the
/// broker keeps the session after the connection ends; 0 leaves the property out (the session
/// ends with the connection).
inline std::string encode_connect(std::string_view client_id, bool clean_session,
                                  uint16_t keepalive_s, int version = v311,
                                  uint32_t session_expiry_s = 0) {
  std::string body;
  put_str(body, "MQTT");
  body += static_cast<char>(version == v5 ? 5 : 4);
  body += static_cast<char>(clean_session ? 0x02 : 0x00);
  put_u16(body, keepalive_s);
  if (version == v5) {
    std::string props;
    if (session_expiry_s != 0)
      put_property_u32(props, session_expiry_interval, session_expiry_s);
    put_properties(body, props);
  }
  put_str(body, client_id);
  return frame(connect << 4, body);
}

/// SUBSCRIBE. MQTT 5: no properties, and the options byte is the maximum QoS alone (No Local,
/// Retain As Published and Retain Handling 0: what 3.1.1 does).
inline std::string encode_subscribe(uint16_t packet_id,
                                    const std::vector<std::pair<std::string, int>>& filters,
                                    int version = v311) {
  std::string body;
  put_u16(body, packet_id);
  if (version == v5)
    put_properties(body, {});
  for (const auto& [filter, qos] : filters) {
    put_str(body, filter);
    body += static_cast<char>(qos);
  }
  return frame(subscribe << 4 | 0x02, body); // the reserved flags of SUBSCRIBE are 0010
}

/// PUBLISH; `packet_id` is ignored for QoS 0. MQTT 5: `props` are the PUBLISH's properties as
/// the put_property_* calls built them (may be empty); 3.1.1 ignores them.
inline std::string encode_publish(std::string_view topic, std::string_view payload, int qos,
                                  uint16_t packet_id, bool dup = false, bool retain = false,
                                  int version = v311, std::string_view props = {}) {
  std::string body;
  body.reserve(topic.size() + payload.size() + props.size() + 8);
  put_str(body, topic);
  if (qos > 0)
    put_u16(body, packet_id);
  if (version == v5)
    put_properties(body, props);
  body.append(payload);
  return frame(static_cast<uint8_t>(publish << 4 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0)),
               body);
}

/// PUBACK. The same bytes in both versions: MQTT 5 allows leaving out reason code 0x00 (success)
/// and an empty property list (3.4.2.1).
inline std::string encode_puback(uint16_t packet_id) {
  std::string out{static_cast<char>(puback << 4), 2};
  put_u16(out, packet_id);
  return out;
}

inline std::string encode_pingreq() { return std::string{static_cast<char>(pingreq << 4), 0}; }
/// DISCONNECT; in MQTT 5 this is reason code 0x00 (normal disconnection) without properties,
/// which may be left out (3.14.2.1).
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
  if (out.type == 0 || out.type == 15) { // AUTH (15) only follows an authentication method
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
  uint32_t size = 0; ///< bytes of the variable header: topic length, topic, packet id, properties
  /// MQTT 5: the PUBLISH's properties (views into the packet).
  property_list props;
  /// MQTT 5: non-empty when the properties are framed right but not acceptable (a duplicate, a
  /// bad value, a string that is not UTF-8, a Topic Alias the gateway never allowed). The packet
  /// is still a PUBLISH the client can acknowledge: it is refused as a message (counted,
  /// acknowledged), not as a broken connection, so that one bad message cannot make the broker
  /// send it again on every reconnect.
  std::string property_error;
};

/// The variable header of a PUBLISH whose fixed header had `flags` and `remaining`; `body` is
/// what has been read of the packet after its fixed header (may be a prefix: need_more).
inline parse_status parse_publish_header(uint8_t flags, uint32_t remaining, std::string_view body,
                                         publish_header& out, std::string& why,
                                         int version = v311) {
  out.topic = {};
  out.packet_id = 0;
  out.size = 0;
  out.props.clear();
  out.property_error.clear();
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
    // MQTT 5 allows an empty topic with a Topic Alias, which the gateway never allows (it sends
    // no Topic Alias Maximum, so the broker must not use aliases towards it).
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
  if (version != v5)
    return parse_status::ok;
  // The property length: a variable byte integer that may not have arrived yet.
  const size_t at = out.size;
  uint32_t length = 0, multiplier = 1;
  size_t n = 0;
  for (;; ++n) {
    if (n == 4) {
      why = "PUBLISH property length longer than 4 bytes";
      return parse_status::malformed;
    }
    if (at + n >= remaining) {
      why = "PUBLISH property length runs past the packet";
      return parse_status::malformed;
    }
    if (at + n >= body.size())
      return parse_status::need_more;
    const auto b = static_cast<uint8_t>(body[at + n]);
    length += (b & 0x7fu) * multiplier;
    multiplier *= 128;
    if (!(b & 0x80)) {
      if (n > 0 && b == 0) {
        why = "PUBLISH property length not in its shortest form";
        return parse_status::malformed;
      }
      break;
    }
  }
  const uint64_t end = uint64_t{at} + n + 1 + length;
  if (end > remaining) {
    why = "PUBLISH property length " + std::to_string(length) + " runs past the packet";
    return parse_status::malformed;
  }
  if (body.size() < end)
    return parse_status::need_more;
  out.size = static_cast<uint32_t>(end);
  size_t pos = at;
  std::string prop_why;
  if (!read_properties(body.substr(0, end), pos, publish, out.props, prop_why)) {
    out.props.clear();
    out.property_error = prop_why;
  } else if (out.props.find(topic_alias)) {
    out.props.clear();
    out.property_error = "Topic Alias, which the gateway does not allow (it sends no Topic Alias "
                         "Maximum)";
  }
  return parse_status::ok;
}

// -- the broker's answers ------------------------------------------------------------------------

struct connack_info {
  bool session_present = false;
  /// 3.1.1: the return code (0 accepted, 1..5 refused); MQTT 5: the reason code (>= 0x80 refused).
  uint8_t reason = 0;
  property_list props; ///< MQTT 5
};

/// A complete CONNACK body. False with the reason when it is malformed.
inline bool parse_connack(std::string_view body, int version, connack_info& out, std::string& why) {
  out.props.clear();
  if (version != v5) {
    if (body.size() != 2) {
      why = "CONNACK of " + std::to_string(body.size()) + " bytes (MQTT 3.1.1: 2)";
      return false;
    }
  } else if (body.size() < 2) {
    why = "CONNACK shorter than its flags and reason code";
    return false;
  }
  const auto flags = static_cast<uint8_t>(body[0]);
  if (flags & 0xfe) {
    why = "CONNACK with reserved flag bits set";
    return false;
  }
  out.session_present = flags & 0x01;
  out.reason = static_cast<uint8_t>(body[1]);
  if (version != v5)
    return true;
  if (body.size() == 2) {
    // MQTT 5 always has a property length here; tolerate a broker that leaves an empty one out.
    return true;
  }
  size_t pos = 2;
  if (!read_properties(body, pos, connack, out.props, why)) {
    why = "CONNACK: " + why;
    return false;
  }
  if (pos != body.size()) {
    why = "CONNACK has bytes after its properties";
    return false;
  }
  return true;
}

struct suback_info {
  uint16_t packet_id = 0;
  std::string_view codes; ///< one per filter: granted QoS, or a failure (>= 0x80)
  property_list props;    ///< MQTT 5
};

inline bool parse_suback(std::string_view body, int version, suback_info& out, std::string& why) {
  out.props.clear();
  if (body.size() < 3) {
    why = "SUBACK without a reason code";
    return false;
  }
  out.packet_id = get_u16(body, 0);
  size_t pos = 2;
  if (version == v5 && !read_properties(body, pos, suback, out.props, why)) {
    why = "SUBACK: " + why;
    return false;
  }
  out.codes = body.substr(pos);
  if (out.codes.empty()) {
    why = "SUBACK without a reason code";
    return false;
  }
  return true;
}

struct puback_info {
  uint16_t packet_id = 0;
  uint8_t reason = 0;  ///< MQTT 5 (0x00 when left out); >= 0x80: the broker refused the message
  property_list props; ///< MQTT 5
};

inline bool parse_puback(std::string_view body, int version, puback_info& out, std::string& why) {
  out.props.clear();
  out.reason = 0;
  if (body.size() < 2 || (version != v5 && body.size() != 2)) {
    why = "PUBACK of " + std::to_string(body.size()) + " bytes";
    return false;
  }
  out.packet_id = get_u16(body, 0);
  if (body.size() == 2)
    return true;
  out.reason = static_cast<uint8_t>(body[2]);
  if (body.size() == 3)
    return true;
  size_t pos = 3;
  if (!read_properties(body, pos, puback, out.props, why)) {
    why = "PUBACK: " + why;
    return false;
  }
  if (pos != body.size()) {
    why = "PUBACK has bytes after its properties";
    return false;
  }
  return true;
}

struct disconnect_info {
  uint8_t reason = 0;
  property_list props;
};

/// MQTT 5: a DISCONNECT the broker sends before it closes the connection (3.1.1 has none).
inline bool parse_disconnect(std::string_view body, disconnect_info& out, std::string& why) {
  out.props.clear();
  out.reason = body.empty() ? 0 : static_cast<uint8_t>(body[0]);
  if (body.size() <= 1)
    return true;
  size_t pos = 1;
  if (!read_properties(body, pos, disconnect, out.props, why)) {
    why = "DISCONNECT: " + why;
    return false;
  }
  if (pos != body.size()) {
    why = "DISCONNECT has bytes after its properties";
    return false;
  }
  return true;
}

} // namespace spry::gateway::mqtt_wire
