// MQTT 3.1.1 packets as the gateway's client writes and reads them: encodings byte for byte
// against the specification's layouts, and every malformed PUBLISH refused with its reason.
#include "gateway/mqtt_packet.hpp"

#include <catch2/catch.hpp>

using namespace spry::gateway::mqtt_wire;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b)
    s += static_cast<char>(c);
  return s;
}

} // namespace

TEST_CASE("MQTT remaining length round-trips at every encoding boundary", "[gateway][mqtt]") {
  for (uint32_t n : {0u, 1u, 127u, 128u, 16383u, 16384u, 2097151u, 2097152u, max_remaining_length}) {
    std::string p{static_cast<char>(puback << 4)};
    put_remaining_length(p, n);
    fixed_header h;
    std::string why;
    REQUIRE(parse_fixed_header(p, h, why) == parse_status::ok);
    CHECK(h.remaining == n);
    CHECK(h.header_size == p.size());
    CHECK(h.type == puback);
    // Every proper prefix asks for more.
    for (size_t cut = 0; cut < p.size(); ++cut)
      CHECK(parse_fixed_header(p.substr(0, cut), h, why) == parse_status::need_more);
  }
  fixed_header h;
  std::string why;
  CHECK(parse_fixed_header(bytes({0x30, 0xff, 0xff, 0xff, 0xff, 0x01}), h, why) == parse_status::malformed);
  CHECK_THAT(why, Catch::Contains("longer than 4 bytes"));
  CHECK(parse_fixed_header(bytes({0xf0, 0x00}), h, why) == parse_status::malformed);
  CHECK(parse_fixed_header(bytes({0x00, 0x00}), h, why) == parse_status::malformed);
}

TEST_CASE("MQTT CONNECT, SUBSCRIBE, PUBACK encode as the specification lays them out", "[gateway][mqtt]") {
  CHECK(encode_connect("ab", false, 10) ==
        bytes({0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x00, 0, 10, 0, 2, 'a', 'b'}));
  CHECK(encode_connect("ab", true, 300)[9] == 0x02); // CleanSession flag
  CHECK(encode_subscribe(7, {{"a/+", 1}}) == bytes({0x82, 8, 0, 7, 0, 3, 'a', '/', '+', 1}));
  CHECK(encode_puback(0x1234) == bytes({0x40, 2, 0x12, 0x34}));
  CHECK(encode_pingreq() == bytes({0xc0, 0}));
  CHECK(encode_disconnect() == bytes({0xe0, 0}));
}

TEST_CASE("MQTT PUBLISH round-trips and its header is read from a prefix", "[gateway][mqtt]") {
  const std::string payload(300, 'p'); // a two-byte remaining length
  const auto p = encode_publish("sensors/k/motion", payload, 1, 513, true);
  fixed_header h;
  std::string why;
  REQUIRE(parse_fixed_header(p, h, why) == parse_status::ok);
  CHECK(h.type == publish);
  CHECK(h.header_size == 3);
  CHECK(h.remaining == p.size() - 3);
  const std::string_view body = std::string_view(p).substr(h.header_size);
  publish_header ph;
  REQUIRE(parse_publish_header(h.flags, h.remaining, body, ph, why) == parse_status::ok);
  CHECK(ph.topic == "sensors/k/motion");
  CHECK(ph.qos == 1);
  CHECK(ph.dup);
  CHECK_FALSE(ph.retain);
  CHECK(ph.packet_id == 513);
  CHECK(body.substr(ph.size) == payload);
  // An oversized message is skipped after its variable header: that header parses from a prefix.
  for (size_t cut = 0; cut < ph.size; ++cut)
    CHECK(parse_publish_header(h.flags, h.remaining, body.substr(0, cut), ph, why) ==
          parse_status::need_more);
  // QoS 0: no packet identifier.
  const auto q0 = encode_publish("t", "x", 0, 99);
  REQUIRE(parse_fixed_header(q0, h, why) == parse_status::ok);
  REQUIRE(parse_publish_header(h.flags, h.remaining, std::string_view(q0).substr(2), ph, why) ==
          parse_status::ok);
  CHECK(ph.packet_id == 0);
  CHECK(ph.size == 3);
}

TEST_CASE("malformed MQTT PUBLISH headers are refused with the reason", "[gateway][mqtt]") {
  publish_header ph;
  std::string why;
  auto refuse = [&](uint8_t flags, const std::string& body, const char* reason) {
    why.clear();
    CHECK(parse_publish_header(flags, static_cast<uint32_t>(body.size()), body, ph, why) ==
          parse_status::malformed);
    CHECK_THAT(why, Catch::Contains(reason));
  };
  refuse(0x06, bytes({0, 1, 't', 0, 1}), "QoS 3");
  refuse(0x08, bytes({0, 1, 't'}), "QoS 0 and DUP");
  refuse(0x00, bytes({0}), "shorter than its topic length");
  refuse(0x00, bytes({0, 9, 't'}), "runs past the packet");
  refuse(0x02, bytes({0, 1, 't'}), "runs past the packet"); // no room for the packet id
  refuse(0x00, bytes({0, 0, 'x'}), "empty topic");
  refuse(0x00, bytes({0, 3, 'a', '/', '#'}), "wildcard");
  refuse(0x00, bytes({0, 3, 'a', 0, 'b'}), "NUL");
  refuse(0x02, bytes({0, 1, 't', 0, 0}), "packet identifier 0");
}
