#pragma once
// MQTT 5 properties (OASIS MQTT 5.0, sections 1.5.5 and 2.2.2): the variable byte integer, the
// property identifiers the gateway's client reads and writes, and a property list as bytes. Pure
// functions on strings, like mqtt_packet.hpp: the client calls them on its threads, the unit
// tests and the fuzz harness call them directly.
//
// Why not a library: Debian 12 has two MQTT 5 implementations, and neither exposes its property
// codec. Paho MQTT C 1.3.12 declares MQTTProperties_read/_write in MQTTProperties.h but does not
// export them (no LIBMQTT_API: hidden in libpaho-mqtt3*.so), and its property list is filled by
// its own packet reader; libmosquitto 2.0.11 exports mosquitto_property_add_*/read_* for
// property lists it encodes itself inside mosquitto_publish_v5() and friends, with no function
// that turns bytes into a list or back. Both are tied to their clients.
//
// Reading is strict where a wrong value would mislead the client (a duplicate of a property
// that may appear once, a property in a packet that cannot carry it, a value out of range, a
// string that is not UTF-8) and says why; nothing is read past the end of the input.

#include "gateway/mqtt_utf8.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace spry::gateway::mqtt_wire {

// -- variable byte integer (1.5.5) ---------------------------------------------------------------

/// The largest value a variable byte integer holds (four bytes of seven bits).
constexpr uint32_t max_varint = 268435455;

/// Appends `v` (at most max_varint) in 1 to 4 bytes.
inline void put_varint(std::string& out, uint32_t v) {
  do {
    uint8_t b = v % 128;
    v /= 128;
    if (v > 0)
      b |= 0x80;
    out += static_cast<char>(b);
  } while (v > 0);
}

/// Reads a variable byte integer at `pos` inside a complete packet body, advancing `pos`. False
/// with the reason when it runs past `in`, takes more than 4 bytes, or is not in its shortest
/// form (MQTT-1.5.5-1: 0x80 0x00 is 0 in two bytes).
inline bool read_varint(std::string_view in, size_t& pos, uint32_t& value, std::string& why) {
  value = 0;
  uint32_t multiplier = 1;
  for (int i = 0; i < 4; ++i) {
    if (pos >= in.size()) {
      why = "variable byte integer runs past the end of the packet";
      return false;
    }
    const auto b = static_cast<uint8_t>(in[pos++]);
    value += (b & 0x7fu) * multiplier;
    if (!(b & 0x80)) {
      if (i > 0 && b == 0) {
        why = "variable byte integer not in its shortest form";
        return false;
      }
      return true;
    }
    multiplier *= 128;
  }
  why = "variable byte integer longer than 4 bytes";
  return false;
}

// -- property identifiers (2.2.2.2) --------------------------------------------------------------

enum property_id : uint8_t {
  payload_format_indicator = 0x01,
  message_expiry_interval = 0x02,
  content_type = 0x03,
  response_topic = 0x08,
  correlation_data = 0x09,
  subscription_identifier = 0x0b,
  session_expiry_interval = 0x11,
  assigned_client_identifier = 0x12,
  server_keep_alive = 0x13,
  authentication_method = 0x15,
  authentication_data = 0x16,
  request_problem_information = 0x17,
  will_delay_interval = 0x18,
  request_response_information = 0x19,
  response_information = 0x1a,
  server_reference = 0x1c,
  reason_string = 0x1f,
  receive_maximum = 0x21,
  topic_alias_maximum = 0x22,
  topic_alias = 0x23,
  maximum_qos = 0x24,
  retain_available = 0x25,
  user_property = 0x26,
  maximum_packet_size = 0x27,
  wildcard_subscription_available = 0x28,
  subscription_identifier_available = 0x29,
  shared_subscription_available = 0x2a,
};

enum class property_type : uint8_t { none, byte, u16, u32, varint, utf8, binary, utf8_pair };

struct property_info {
  property_type type = property_type::none; ///< none: not an MQTT 5 property identifier
  uint16_t packets = 0;                     ///< bit N: allowed in control packet type N
  bool repeatable = false;                  ///< may appear more than once in one packet
  const char* name = "";
};

/// What the specification says of identifier `id` (type none for an unknown one).
inline property_info info_of(uint8_t id) {
  constexpr uint16_t CONNECT = 1 << 1, CONNACK = 1 << 2, PUBLISH = 1 << 3, PUBACK = 1 << 4,
                     PUBREC = 1 << 5, PUBREL = 1 << 6, PUBCOMP = 1 << 7, SUBSCRIBE = 1 << 8,
                     SUBACK = 1 << 9, UNSUBSCRIBE = 1 << 10, UNSUBACK = 1 << 11,
                     DISCONNECT = 1 << 14, AUTH = 1 << 15;
  using t = property_type;
  switch (id) {
    case payload_format_indicator: return {t::byte, PUBLISH, false, "Payload Format Indicator"};
    case message_expiry_interval: return {t::u32, PUBLISH, false, "Message Expiry Interval"};
    case content_type: return {t::utf8, PUBLISH, false, "Content Type"};
    case response_topic: return {t::utf8, PUBLISH, false, "Response Topic"};
    case correlation_data: return {t::binary, PUBLISH, false, "Correlation Data"};
    case subscription_identifier:
      return {t::varint, PUBLISH | SUBSCRIBE, true, "Subscription Identifier"};
    case session_expiry_interval:
      return {t::u32, CONNECT | CONNACK | DISCONNECT, false, "Session Expiry Interval"};
    case assigned_client_identifier: return {t::utf8, CONNACK, false, "Assigned Client Identifier"};
    case server_keep_alive: return {t::u16, CONNACK, false, "Server Keep Alive"};
    case authentication_method:
      return {t::utf8, CONNECT | CONNACK | AUTH, false, "Authentication Method"};
    case authentication_data:
      return {t::binary, CONNECT | CONNACK | AUTH, false, "Authentication Data"};
    case request_problem_information:
      return {t::byte, CONNECT, false, "Request Problem Information"};
    case will_delay_interval: return {t::u32, 0, false, "Will Delay Interval"}; // will properties only
    case request_response_information:
      return {t::byte, CONNECT, false, "Request Response Information"};
    case response_information: return {t::utf8, CONNACK, false, "Response Information"};
    case server_reference: return {t::utf8, CONNACK | DISCONNECT, false, "Server Reference"};
    case reason_string:
      return {t::utf8,
              CONNACK | PUBACK | PUBREC | PUBREL | PUBCOMP | SUBACK | UNSUBACK | DISCONNECT | AUTH,
              false, "Reason String"};
    case receive_maximum: return {t::u16, CONNECT | CONNACK, false, "Receive Maximum"};
    case topic_alias_maximum: return {t::u16, CONNECT | CONNACK, false, "Topic Alias Maximum"};
    case topic_alias: return {t::u16, PUBLISH, false, "Topic Alias"};
    case maximum_qos: return {t::byte, CONNACK, false, "Maximum QoS"};
    case retain_available: return {t::byte, CONNACK, false, "Retain Available"};
    case user_property:
      return {t::utf8_pair,
              CONNECT | CONNACK | PUBLISH | PUBACK | PUBREC | PUBREL | PUBCOMP | SUBSCRIBE |
                SUBACK | UNSUBSCRIBE | UNSUBACK | DISCONNECT | AUTH,
              true, "User Property"};
    case maximum_packet_size: return {t::u32, CONNECT | CONNACK, false, "Maximum Packet Size"};
    case wildcard_subscription_available:
      return {t::byte, CONNACK, false, "Wildcard Subscription Available"};
    case subscription_identifier_available:
      return {t::byte, CONNACK, false, "Subscription Identifier Available"};
    case shared_subscription_available:
      return {t::byte, CONNACK, false, "Shared Subscription Available"};
    default: return {};
  }
}

// -- a property list -----------------------------------------------------------------------------

/// One property as read: `number` for byte/u16/u32/varint types, `text` for strings and binary
/// data, `text` and `value` for a user property (name, value). Views into the packet.
struct property {
  uint8_t id = 0;
  uint32_t number = 0;
  std::string_view text;
  std::string_view value;
};

/// The properties of one packet in the order they came. The client keeps one per connection and
/// reuses it (clear() keeps the capacity), so reading a packet does not allocate once warm.
struct property_list {
  std::vector<property> items;

  void clear() noexcept { items.clear(); }
  const property* find(uint8_t id) const noexcept {
    for (const auto& p : items)
      if (p.id == id)
        return &p;
    return nullptr;
  }
  uint32_t number_or(uint8_t id, uint32_t fallback) const noexcept {
    const auto* p = find(id);
    return p ? p->number : fallback;
  }
  std::string_view text_or(uint8_t id, std::string_view fallback = {}) const noexcept {
    const auto* p = find(id);
    return p ? p->text : fallback;
  }
};

/// Reads the property length and the properties at `pos` of a complete packet body of control
/// packet type `packet_type` (0: any packet), advancing `pos` past them. Clears `out` first.
inline bool read_properties(std::string_view in, size_t& pos, uint8_t packet_type,
                            property_list& out, std::string& why) {
  out.clear();
  uint32_t length = 0;
  if (!read_varint(in, pos, length, why)) {
    why = "property length: " + why;
    return false;
  }
  if (length > in.size() - pos) {
    why = "property length " + std::to_string(length) + " runs past the end of the packet";
    return false;
  }
  const std::string_view props = in.substr(pos, length);
  pos += length;
  uint64_t seen[4] = {}; // identifiers below 256 seen so far
  size_t at = 0;
  auto need = [&](size_t n, const property_info& pi) {
    if (props.size() - at >= n)
      return true;
    why = std::string("property ") + pi.name + " is truncated";
    return false;
  };
  auto read_string = [&](const property_info& pi, std::string_view& s, bool utf8) {
    if (!need(2, pi))
      return false;
    const size_t n = static_cast<uint8_t>(props[at]) << 8 | static_cast<uint8_t>(props[at + 1]);
    at += 2;
    if (!need(n, pi))
      return false;
    s = props.substr(at, n);
    at += n;
    if (utf8 && !mqtt_utf8_valid(s)) {
      why = std::string("property ") + pi.name + " is not well-formed UTF-8 (or contains U+0000)";
      return false;
    }
    return true;
  };
  while (at < props.size()) {
    // Identifiers are variable byte integers; every defined one fits in one byte.
    uint32_t id32 = 0;
    if (!read_varint(props, at, id32, why)) {
      why = "property identifier: " + why;
      return false;
    }
    const auto pi = id32 < 256 ? info_of(static_cast<uint8_t>(id32)) : property_info{};
    if (pi.type == property_type::none) {
      why = "unknown property identifier " + std::to_string(id32);
      return false;
    }
    const auto id = static_cast<uint8_t>(id32);
    if (packet_type != 0 && !(pi.packets & (1u << packet_type))) {
      why = std::string("property ") + pi.name + " is not allowed in packet type " +
            std::to_string(packet_type);
      return false;
    }
    if (!pi.repeatable && (seen[id / 64] >> (id % 64) & 1u)) {
      why = std::string("property ") + pi.name + " appears more than once";
      return false;
    }
    seen[id / 64] |= uint64_t{1} << (id % 64);
    property p;
    p.id = id;
    switch (pi.type) {
      case property_type::byte:
        if (!need(1, pi))
          return false;
        p.number = static_cast<uint8_t>(props[at++]);
        break;
      case property_type::u16:
        if (!need(2, pi))
          return false;
        p.number = static_cast<uint8_t>(props[at]) << 8 | static_cast<uint8_t>(props[at + 1]);
        at += 2;
        break;
      case property_type::u32:
        if (!need(4, pi))
          return false;
        p.number = 0;
        for (int i = 0; i < 4; ++i)
          p.number = p.number << 8 | static_cast<uint8_t>(props[at + i]);
        at += 4;
        break;
      case property_type::varint:
        if (!read_varint(props, at, p.number, why)) {
          why = std::string("property ") + pi.name + ": " + why;
          return false;
        }
        break;
      case property_type::utf8:
        if (!read_string(pi, p.text, true))
          return false;
        break;
      case property_type::binary:
        if (!read_string(pi, p.text, false))
          return false;
        break;
      case property_type::utf8_pair:
        if (!read_string(pi, p.text, true) || !read_string(pi, p.value, true))
          return false;
        break;
      case property_type::none: break;
    }
    // Values the specification restricts (a Protocol Error otherwise).
    const bool bad_value =
      (pi.type == property_type::byte && p.number > 1) || // every byte property is 0 or 1
      ((id == receive_maximum || id == maximum_packet_size || id == topic_alias ||
        id == subscription_identifier) &&
       p.number == 0);
    if (bad_value) {
      why = std::string("property ") + pi.name + " has the invalid value " + std::to_string(p.number);
      return false;
    }
    out.items.push_back(p);
  }
  return true;
}

// -- writing -------------------------------------------------------------------------------------

/// Builds the properties of one packet; written out by put_properties(). The caller keeps each
/// string at most 65535 bytes (fits_property_string) and does not repeat a property that may
/// appear once: the writer does not check, the reader on the other side does.
inline bool fits_property_string(std::string_view s) noexcept { return s.size() <= 65535; }

inline void put_property_byte(std::string& props, uint8_t id, uint8_t v) {
  props += static_cast<char>(id);
  props += static_cast<char>(v);
}
inline void put_property_u16(std::string& props, uint8_t id, uint16_t v) {
  props += static_cast<char>(id);
  props += static_cast<char>(v >> 8);
  props += static_cast<char>(v & 0xff);
}
inline void put_property_u32(std::string& props, uint8_t id, uint32_t v) {
  props += static_cast<char>(id);
  for (int shift = 24; shift >= 0; shift -= 8)
    props += static_cast<char>((v >> shift) & 0xff);
}
inline void put_property_string(std::string& props, uint8_t id, std::string_view s) {
  props += static_cast<char>(id);
  props += static_cast<char>((s.size() >> 8) & 0xff);
  props += static_cast<char>(s.size() & 0xff);
  props.append(s.substr(0, 65535));
}
inline void put_user_property(std::string& props, std::string_view name, std::string_view value) {
  put_property_string(props, user_property, name);
  props.append(1, static_cast<char>((value.size() >> 8) & 0xff));
  props.append(1, static_cast<char>(value.size() & 0xff));
  props.append(value.substr(0, 65535));
}

/// Appends the property length and `props` (what the put_property_* calls built; may be empty).
inline void put_properties(std::string& out, std::string_view props) {
  put_varint(out, static_cast<uint32_t>(props.size()));
  out.append(props);
}

} // namespace spry::gateway::mqtt_wire
