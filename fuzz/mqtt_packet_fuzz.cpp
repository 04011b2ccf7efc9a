// The gateway's own MQTT 3.1.1 reader (gateway/mqtt_packet.hpp): fixed headers and PUBLISH
// variable headers parsed from a byte stream the broker sends, read in arbitrary pieces as the
// socket delivers them. Invariants: a header is 2..5 bytes and never claims more than MQTT can
// express; an accepted PUBLISH header lies inside its packet, its topic inside what was read, and
// re-encoding topic, payload, QoS and packet id reads back the same.
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

void check_round_trip(const publish_header& h, std::string_view payload) {
  const auto bytes = encode_publish(h.topic, payload, h.qos, h.packet_id, h.dup, h.retain);
  fixed_header f;
  std::string why;
  if (parse_fixed_header(bytes, f, why) != parse_status::ok)
    broken("an encoded PUBLISH has no valid fixed header");
  if (f.header_size + f.remaining != bytes.size())
    broken("an encoded PUBLISH's remaining length is not its size");
  publish_header back;
  const auto body = std::string_view(bytes).substr(f.header_size);
  if (parse_publish_header(f.flags, f.remaining, body, back, why) != parse_status::ok)
    broken("an encoded PUBLISH does not parse");
  if (back.topic != h.topic || back.qos != h.qos || back.dup != h.dup || back.retain != h.retain ||
      (h.qos > 0 && back.packet_id != h.packet_id))
    broken("PUBLISH round trip changed a field");
  if (body.substr(back.size) != payload)
    broken("PUBLISH round trip changed the payload");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spry::fuzz::fuzz_input in(data, size);
  const size_t chunk = size_t{in.byte()} + 1;
  const std::string_view stream = in.rest();
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
        return 0; // the client drops the connection here
      }
      if (st == parse_status::need_more)
        break;
      if (f.header_size < 2 || f.header_size > 5 || f.remaining > max_remaining_length)
        broken("fixed header out of range");
      const auto body = std::string_view(buffered).substr(f.header_size);
      if (f.type == publish) {
        publish_header h;
        const auto ps = parse_publish_header(f.flags, f.remaining, body.substr(0, f.remaining), h,
                                             why);
        if (ps == parse_status::malformed) {
          if (why.empty())
            broken("malformed PUBLISH without a reason");
          return 0;
        }
        if (ps == parse_status::ok) {
          if (h.size > f.remaining || h.size > body.size())
            broken("PUBLISH header runs past its packet");
          if (h.topic.data() < body.data() || h.topic.data() + h.topic.size() > body.data() + h.size)
            broken("PUBLISH topic outside its header");
          if (body.size() >= f.remaining)
            check_round_trip(h, body.substr(h.size, f.remaining - h.size));
        }
      }
      if (body.size() < f.remaining)
        break; // the rest of this packet has not arrived
      buffered.erase(0, f.header_size + f.remaining);
    }
    if (offered >= stream.size())
      break;
  }
  return 0;
}
