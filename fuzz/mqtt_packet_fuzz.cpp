// The gateway's own MQTT reader (gateway/mqtt_packet.hpp, gateway/mqtt_properties.hpp): fixed
// headers, PUBLISH variable headers and the broker's CONNACK/SUBACK/PUBACK/DISCONNECT parsed from
// a byte stream the broker sends, read in arbitrary pieces as the socket delivers them, once as
// MQTT 3.1.1 and once as MQTT 5 (every input exercises both). Invariants: a header is 2..5 bytes
// and never claims more than MQTT can express; an accepted PUBLISH header (properties included)
// lies inside its packet, its topic inside what was read, and re-encoding topic, payload, QoS,
// packet id and properties reads back the same; every refusal has a reason; accepted property
// strings lie inside their packet and are UTF-8 where MQTT says so; no property that may appear
// once is accepted twice.
//
// Input: byte 0 picks the read size (1..256); the rest is the byte stream.
#include "fuzz/fuzz_input.hpp"
#include "gateway/mqtt_packet.hpp"

#include <cstdio>
#include <cstdlib>

namespace {

[[noreturn]] void broken(const char* what) {
  fprintf(stderr, "invariant broken: %s\n", what);
  abort();
}

using namespace spry::gateway::mqtt_wire;

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

/// Writes `l` back as bytes with the put_property_* functions.
std::string encode(const property_list& l) {
  std::string out;
  for (const auto& p : l.items) {
    switch (info_of(p.id).type) {
      case property_type::byte: put_property_byte(out, p.id, static_cast<uint8_t>(p.number)); break;
      case property_type::u16: put_property_u16(out, p.id, static_cast<uint16_t>(p.number)); break;
      case property_type::u32: put_property_u32(out, p.id, p.number); break;
      case property_type::varint:
        out += static_cast<char>(p.id);
        put_varint(out, p.number);
        break;
      case property_type::utf8:
      case property_type::binary: put_property_string(out, p.id, p.text); break;
      case property_type::utf8_pair: put_user_property(out, p.text, p.value); break;
      case property_type::none: broken("an accepted property has no type");
    }
  }
  return out;
}

/// What every accepted property list must satisfy, and its round trip.
void check_properties(const property_list& l, std::string_view packet, uint8_t type) {
  uint64_t seen[4] = {};
  for (const auto& p : l.items) {
    const auto pi = info_of(p.id);
    if (pi.type == property_type::none)
      broken("an unknown property identifier was accepted");
    if (type != 0 && !(pi.packets & (1u << type)))
      broken("a property was accepted in a packet that cannot carry it");
    if (!pi.repeatable && (seen[p.id / 64] >> (p.id % 64) & 1u))
      broken("a property that may appear once was accepted twice");
    seen[p.id / 64] |= uint64_t{1} << (p.id % 64);
    if (!inside(p.text, packet) || !inside(p.value, packet))
      broken("a property string lies outside its packet");
    if ((pi.type == property_type::utf8 || pi.type == property_type::utf8_pair) &&
        (!mqtt_utf8_valid(p.text) || !mqtt_utf8_valid(p.value)))
      broken("a property string that is not UTF-8 was accepted");
  }
  std::string body;
  put_properties(body, encode(l));
  property_list back;
  size_t pos = 0;
  std::string why;
  if (!read_properties(body, pos, type, back, why) || pos != body.size())
    broken("re-encoded properties do not parse");
  if (back.items.size() != l.items.size())
    broken("property round trip changed the count");
  for (size_t i = 0; i < l.items.size(); ++i) {
    const auto &a = l.items[i], &b = back.items[i];
    if (a.id != b.id || a.number != b.number || a.text != b.text || a.value != b.value)
      broken("property round trip changed a property");
  }
}

void check_round_trip(const publish_header& h, std::string_view payload, int version) {
  const auto props = encode(h.props);
  const auto bytes = encode_publish(h.topic, payload, h.qos, h.packet_id, h.dup, h.retain, version,
                                    props);
  fixed_header f;
  std::string why;
  if (parse_fixed_header(bytes, f, why) != parse_status::ok)
    broken("an encoded PUBLISH has no valid fixed header");
  if (f.header_size + f.remaining != bytes.size())
    broken("an encoded PUBLISH's remaining length is not its size");
  publish_header back;
  const auto body = std::string_view(bytes).substr(f.header_size);
  if (parse_publish_header(f.flags, f.remaining, body, back, why, version) != parse_status::ok)
    broken("an encoded PUBLISH does not parse");
  if (back.topic != h.topic || back.qos != h.qos || back.dup != h.dup || back.retain != h.retain ||
      (h.qos > 0 && back.packet_id != h.packet_id))
    broken("PUBLISH round trip changed a field");
  if (body.substr(back.size) != payload)
    broken("PUBLISH round trip changed the payload");
  if (h.property_error.empty() && (!back.property_error.empty() ||
                                   back.props.items.size() != h.props.items.size()))
    broken("PUBLISH round trip changed the properties");
}

/// The broker's other packets, complete: accepted ones keep their invariants, refusals say why.
void check_answer(const fixed_header& f, std::string_view body, int version) {
  std::string why;
  bool ok = true;
  switch (f.type) {
    case connack: {
      connack_info c;
      ok = parse_connack(body, version, c, why);
      if (ok)
        check_properties(c.props, body, connack);
      break;
    }
    case suback: {
      suback_info s;
      ok = parse_suback(body, version, s, why);
      if (ok) {
        if (s.codes.empty() || !inside(s.codes, body))
          broken("SUBACK codes outside the packet");
        check_properties(s.props, body, suback);
      }
      break;
    }
    case puback: {
      puback_info a;
      ok = parse_puback(body, version, a, why);
      if (ok)
        check_properties(a.props, body, puback);
      break;
    }
    case disconnect: {
      if (version != v5)
        return;
      disconnect_info d;
      ok = parse_disconnect(body, d, why);
      if (ok)
        check_properties(d.props, body, disconnect);
      break;
    }
    default: return;
  }
  if (!ok && why.empty())
    broken("a packet was refused without a reason");
}

void run(std::string_view stream, size_t chunk, int version) {
  // What the client has read so far: grows by `chunk` per read, packets taken off the front.
  std::string buffered;
  size_t offered = 0;
  while (offered < stream.size() || !buffered.empty()) {
    const auto piece = stream.substr(offered, chunk);
    offered += piece.size();
    buffered.append(piece);
    for (;;) {
      fixed_header f;
      std::string why;
      const auto st = parse_fixed_header(buffered, f, why);
      if (st == parse_status::malformed) {
        if (why.empty())
          broken("malformed without a reason");
        return; // the client drops the connection here
      }
      if (st == parse_status::need_more)
        break;
      if (f.header_size < 2 || f.header_size > 5 || f.remaining > max_remaining_length)
        broken("fixed header out of range");
      const auto body = std::string_view(buffered).substr(f.header_size);
      if (f.type == publish) {
        publish_header h;
        const auto ps = parse_publish_header(f.flags, f.remaining, body.substr(0, f.remaining), h,
                                             why, version);
        if (ps == parse_status::malformed) {
          if (why.empty())
            broken("malformed PUBLISH without a reason");
          return;
        }
        if (ps == parse_status::ok) {
          if (h.size > f.remaining || h.size > body.size())
            broken("PUBLISH header runs past its packet");
          if (h.topic.data() < body.data() || h.topic.data() + h.topic.size() > body.data() + h.size)
            broken("PUBLISH topic outside its header");
          if (version != v5 && (!h.props.items.empty() || !h.property_error.empty()))
            broken("MQTT 3.1.1 PUBLISH with properties");
          if (!h.property_error.empty() && !h.props.items.empty())
            broken("refused PUBLISH properties passed on");
          check_properties(h.props, body.substr(0, h.size), publish);
          if (body.size() >= f.remaining)
            check_round_trip(h, body.substr(h.size, f.remaining - h.size), version);
        }
      } else if (body.size() >= f.remaining && f.remaining <= 65536) {
        check_answer(f, body.substr(0, f.remaining), version);
      }
      if (body.size() < f.remaining)
        break; // the rest of this packet has not arrived
      buffered.erase(0, f.header_size + f.remaining);
    }
    if (offered >= stream.size())
      break;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spry::fuzz::fuzz_input in(data, size);
  const size_t chunk = size_t{in.byte()} + 1;
  const std::string_view stream = in.rest();
  run(stream, chunk, v311);
  run(stream, chunk, v5);
  return 0;
}
