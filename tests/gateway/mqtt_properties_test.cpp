// MQTT 5 properties (gateway/mqtt_properties.hpp) and the MQTT 5 packets built on them
// (gateway/mqtt_packet.hpp): variable byte integers at every boundary and malformed ones,
// property lists round-tripped, truncated, repeated where they must not be, out of range, in a
// packet that cannot carry them; CONNECT/SUBSCRIBE/PUBLISH byte for byte against the
// specification's layouts; CONNACK/SUBACK/PUBACK/DISCONNECT read with their reason codes.
#include "gateway/mqtt_packet.hpp"
#include "gateway/mqtt_properties.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

using namespace spry::gateway::mqtt_wire;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b)
    s += static_cast<char>(c);
  return s;
}

/// `props` framed with its property length, as a packet body that holds only that.
std::string framed(const std::string& props) {
  std::string out;
  put_properties(out, props);
  return out;
}

bool read_all(const std::string& body, uint8_t packet, property_list& out, std::string& why) {
  size_t pos = 0;
  const bool ok = read_properties(body, pos, packet, out, why);
  if (ok)
    CHECK(pos == body.size());
  return ok;
}

} // namespace

TEST_CASE("MQTT 5 variable byte integers round-trip at every length boundary", "[gateway][mqtt]") {
  for (uint32_t v : {0u, 1u, 127u, 128u, 16383u, 16384u, 2097151u, 2097152u, max_varint}) {
    std::string s;
    put_varint(s, v);
    CHECK(s.size() == (v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4));
    size_t pos = 0;
    uint32_t back = 0;
    std::string why;
    REQUIRE(read_varint(s, pos, back, why));
    CHECK(back == v);
    CHECK(pos == s.size());
    // Every proper prefix is truncated.
    for (size_t cut = 0; cut < s.size(); ++cut) {
      pos = 0;
      CHECK_FALSE(read_varint(s.substr(0, cut), pos, back, why));
      CHECK_THAT(why, Catch::Contains("runs past the end"));
    }
  }
}

TEST_CASE("malformed MQTT 5 variable byte integers are refused with the reason", "[gateway][mqtt]") {
  size_t pos = 0;
  uint32_t v = 0;
  std::string why;
  CHECK_FALSE(read_varint(bytes({0xff, 0xff, 0xff, 0xff, 0x01}), pos, v, why));
  CHECK_THAT(why, Catch::Contains("longer than 4 bytes"));
  pos = 0;
  CHECK_FALSE(read_varint(bytes({0x80, 0x00}), pos, v, why)); // 0 in two bytes
  CHECK_THAT(why, Catch::Contains("shortest form"));
  pos = 0;
  CHECK_FALSE(read_varint(bytes({0x80, 0x80, 0x80}), pos, v, why));
  CHECK_THAT(why, Catch::Contains("runs past the end"));
}

TEST_CASE("MQTT 5 properties round-trip through the writer and the reader", "[gateway][mqtt]") {
  std::string props;
  put_property_string(props, content_type, "application/json; charset=utf-8");
  put_user_property(props, "specversion", "1.0");
  put_user_property(props, "id", "ev-1");
  put_user_property(props, "id", "ev-2"); // user properties may repeat, in order
  put_property_u32(props, message_expiry_interval, 70000);
  put_property_byte(props, payload_format_indicator, 1);
  put_user_property(props, "unicode", "k\xc3\xbc" "che \xf0\x9f\x98\x80");
  const auto body = framed(props);
  property_list l;
  std::string why;
  REQUIRE(read_all(body, publish, l, why));
  REQUIRE(l.items.size() == 7);
  CHECK(l.text_or(content_type) == "application/json; charset=utf-8");
  CHECK(l.number_or(message_expiry_interval, 0) == 70000);
  CHECK(l.number_or(payload_format_indicator, 9) == 1);
  CHECK(l.number_or(receive_maximum, 65535) == 65535); // absent: the fallback
  std::vector<std::pair<std::string_view, std::string_view>> user;
  for (const auto& p : l.items)
    if (p.id == user_property)
      user.emplace_back(p.text, p.value);
  REQUIRE(user.size() == 4);
  CHECK(user[0] == std::make_pair(std::string_view("specversion"), std::string_view("1.0")));
  CHECK(user[1].second == "ev-1");
  CHECK(user[2].second == "ev-2");
  CHECK(user[3].second == "k\xc3\xbc" "che \xf0\x9f\x98\x80");

  // The numeric types at their widths, in a CONNACK.
  std::string c;
  put_property_u16(c, receive_maximum, 20);
  put_property_u32(c, maximum_packet_size, 0x01020304);
  put_property_u32(c, session_expiry_interval, 0xffffffffu);
  put_property_byte(c, maximum_qos, 0);
  put_property_u16(c, server_keep_alive, 0);
  REQUIRE(read_all(framed(c), connack, l, why));
  CHECK(l.number_or(receive_maximum, 0) == 20);
  CHECK(l.number_or(maximum_packet_size, 0) == 0x01020304);
  CHECK(l.number_or(session_expiry_interval, 0) == 0xffffffffu);
  CHECK(l.number_or(maximum_qos, 1) == 0);
  CHECK(l.find(server_keep_alive) != nullptr);

  // An empty list is one zero byte.
  CHECK(framed("") == bytes({0}));
  REQUIRE(read_all(framed(""), publish, l, why));
  CHECK(l.items.empty());
}

TEST_CASE("truncated MQTT 5 properties are refused, never read past the end", "[gateway][mqtt]") {
  std::string props;
  put_property_string(props, content_type, "text/plain");
  put_user_property(props, "a", "b");
  put_property_u32(props, message_expiry_interval, 5);
  put_property_u16(props, topic_alias, 3);
  // Cut the property bytes anywhere inside a property while the property length still claims
  // them all: the length runs past the packet. Cut them and shorten the length to match: the
  // last property is truncated (or the list is just shorter, at a property boundary).
  const auto full = framed(props);
  property_list l;
  std::string why;
  for (size_t cut = 1; cut < full.size(); ++cut) {
    CHECK_FALSE(read_all(full.substr(0, cut), 0, l, why));
    CHECK_FALSE(why.empty());
  }
  const std::vector<size_t> boundaries = {0, 13, 20, 25, 28};
  for (size_t n = 0; n <= props.size(); ++n) {
    const bool at_boundary = std::find(boundaries.begin(), boundaries.end(), n) != boundaries.end();
    why.clear();
    CHECK(read_all(framed(props.substr(0, n)), 0, l, why) == at_boundary);
    if (!at_boundary)
      CHECK_THAT(why, Catch::Contains("truncated") || Catch::Contains("identifier"));
  }
  // A string whose length runs past the list.
  CHECK_FALSE(read_all(framed(bytes({content_type, 0, 9, 'a'})), 0, l, why));
  CHECK_THAT(why, Catch::Contains("Content Type is truncated"));
  // A user property with its name and no value.
  CHECK_FALSE(read_all(framed(bytes({user_property, 0, 1, 'n'})), 0, l, why));
  CHECK_THAT(why, Catch::Contains("User Property is truncated"));
  // A property length longer than the packet.
  CHECK_FALSE(read_all(bytes({5, content_type}), 0, l, why));
  CHECK_THAT(why, Catch::Contains("property length 5 runs past"));
  // A malformed property length.
  CHECK_FALSE(read_all(bytes({0x80, 0x00}), 0, l, why));
  CHECK_THAT(why, Catch::Contains("property length") && Catch::Contains("shortest form"));
}

TEST_CASE("MQTT 5 properties that must not repeat, unknown ones and bad values are refused",
          "[gateway][mqtt]") {
  property_list l;
  std::string why;
  auto refuse = [&](const std::string& props, uint8_t packet, const char* reason) {
    why.clear();
    CHECK_FALSE(read_all(framed(props), packet, l, why));
    CHECK_THAT(why, Catch::Contains(reason));
  };
  std::string twice;
  put_property_string(twice, content_type, "a");
  put_property_string(twice, content_type, "b");
  refuse(twice, publish, "Content Type appears more than once");
  std::string twice_num;
  put_property_u16(twice_num, receive_maximum, 1);
  put_property_u16(twice_num, receive_maximum, 2);
  refuse(twice_num, connack, "Receive Maximum appears more than once");
  std::string reason_twice;
  put_property_string(reason_twice, reason_string, "x");
  put_property_string(reason_twice, reason_string, "x");
  refuse(reason_twice, suback, "Reason String appears more than once");
  // Subscription Identifier may repeat in a PUBLISH (one per matching subscription).
  std::string ids = bytes({subscription_identifier, 1, subscription_identifier, 0x80, 0x01});
  REQUIRE(read_all(framed(ids), publish, l, why));
  CHECK(l.items.size() == 2);
  CHECK(l.items[1].number == 128);

  refuse(bytes({0x7f, 0}), 0, "unknown property identifier 127");
  refuse(bytes({0x04, 0}), 0, "unknown property identifier 4");
  refuse(bytes({0x80, 0x01, 0}), 0, "unknown property identifier 128");
  std::string in_wrong_packet;
  put_property_u16(in_wrong_packet, receive_maximum, 10);
  refuse(in_wrong_packet, publish, "Receive Maximum is not allowed in packet type 3");
  std::string zero;
  put_property_u16(zero, receive_maximum, 0);
  refuse(zero, connack, "Receive Maximum has the invalid value 0");
  std::string qos2;
  put_property_byte(qos2, maximum_qos, 2);
  refuse(qos2, connack, "Maximum QoS has the invalid value 2");
  refuse(bytes({subscription_identifier, 0}), publish, "Subscription Identifier has the invalid value 0");
  std::string bad_utf8;
  put_user_property(bad_utf8, "k", "\xc3\x28");
  refuse(bad_utf8, publish, "not well-formed UTF-8");
  std::string nul;
  put_property_string(nul, content_type, std::string("a\0b", 3));
  refuse(nul, publish, "not well-formed UTF-8");
  std::string surrogate;
  put_property_string(surrogate, reason_string, "\xed\xa0\x80");
  refuse(surrogate, connack, "not well-formed UTF-8");
  // Binary data is not UTF-8 and need not be.
  std::string corr;
  put_property_string(corr, correlation_data, std::string("\xff\x00\xfe", 3));
  const auto corr_body = framed(corr); // the list's views point into it
  REQUIRE(read_all(corr_body, publish, l, why));
  CHECK(l.text_or(correlation_data) == std::string("\xff\x00\xfe", 3));
}

TEST_CASE("MQTT 5 CONNECT, SUBSCRIBE and PUBLISH encode as the specification lays them out",
          "[gateway][mqtt]") {
  // CONNECT: protocol level 5, Clean Start 0, keepalive 10, Session Expiry Interval 3600.
  CHECK(encode_connect("ab", false, 10, v5, 3600) ==
        bytes({0x10, 20, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x00, 0, 10, 5, 0x11, 0, 0, 0x0e, 0x10, 0, 2,
               'a', 'b'}));
  // Clean Start without expiry: an empty property list.
  CHECK(encode_connect("ab", true, 10, v5, 0) ==
        bytes({0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 10, 0, 0, 2, 'a', 'b'}));
  // SUBSCRIBE: packet id, empty properties, filter, options (QoS 1).
  CHECK(encode_subscribe(7, {{"a/+", 1}}, v5) ==
        bytes({0x82, 9, 0, 7, 0, 0, 3, 'a', '/', '+', 1}));
  // PUBLISH QoS 1 with a Content Type and a User Property.
  std::string props;
  put_property_string(props, content_type, "t/x");
  put_user_property(props, "k", "v");
  const auto p = encode_publish("a/b", "pay", 1, 0x0102, false, false, v5, props);
  CHECK(p == bytes({0x32, 24, 0, 3, 'a', '/', 'b', 1, 2, 13, 0x03, 0, 3, 't', '/', 'x', 0x26, 0, 1,
                    'k', 0, 1, 'v', 'p', 'a', 'y'}));
  fixed_header h;
  std::string why;
  REQUIRE(parse_fixed_header(p, h, why) == parse_status::ok);
  const auto body = std::string_view(p).substr(h.header_size);
  publish_header ph;
  REQUIRE(parse_publish_header(h.flags, h.remaining, body, ph, why, v5) == parse_status::ok);
  CHECK(ph.property_error.empty());
  CHECK(ph.topic == "a/b");
  CHECK(ph.packet_id == 0x0102);
  CHECK(ph.props.text_or(content_type) == "t/x");
  CHECK(body.substr(ph.size) == "pay");
  // The variable header, properties included, parses from a prefix (oversized messages).
  for (size_t cut = 0; cut < ph.size; ++cut)
    CHECK(parse_publish_header(h.flags, h.remaining, body.substr(0, cut), ph, why, v5) ==
          parse_status::need_more);
  // The same bytes read as 3.1.1 leave the properties in the payload.
  REQUIRE(parse_publish_header(h.flags, h.remaining, body, ph, why, v311) == parse_status::ok);
  CHECK(ph.size == 7);
}

TEST_CASE("MQTT 5 PUBLISH: bad framing breaks the connection, bad properties only the message",
          "[gateway][mqtt]") {
  publish_header ph;
  std::string why;
  auto parse = [&](uint8_t flags, const std::string& body) {
    why.clear();
    return parse_publish_header(flags, static_cast<uint32_t>(body.size()), body, ph, why, v5);
  };
  // No property length at all, a property length past the packet, one not in its shortest form.
  CHECK(parse(0x00, bytes({0, 1, 't'})) == parse_status::malformed);
  CHECK_THAT(why, Catch::Contains("property length runs past"));
  CHECK(parse(0x00, bytes({0, 1, 't', 9, 1})) == parse_status::malformed);
  CHECK_THAT(why, Catch::Contains("property length 9 runs past"));
  CHECK(parse(0x00, bytes({0, 1, 't', 0x80, 0x00})) == parse_status::malformed);
  CHECK_THAT(why, Catch::Contains("shortest form"));
  // Framed right, but a duplicate Content Type: a message to refuse and acknowledge.
  std::string dup;
  put_property_string(dup, content_type, "a");
  put_property_string(dup, content_type, "b");
  std::string body = bytes({0, 1, 't', 0, 5});
  put_properties(body, dup);
  body += "payload";
  REQUIRE(parse(0x02, body) == parse_status::ok);
  CHECK(ph.packet_id == 5);
  CHECK_THAT(ph.property_error, Catch::Contains("Content Type appears more than once"));
  CHECK(std::string_view(body).substr(ph.size) == "payload");
  // A Topic Alias the gateway never allowed.
  std::string alias;
  put_property_u16(alias, topic_alias, 1);
  body = bytes({0, 1, 't'});
  put_properties(body, alias);
  REQUIRE(parse(0x00, body) == parse_status::ok);
  CHECK_THAT(ph.property_error, Catch::Contains("Topic Alias"));
}

TEST_CASE("MQTT 5 CONNACK, SUBACK, PUBACK and DISCONNECT are read with reason codes and strings",
          "[gateway][mqtt]") {
  std::string why;
  connack_info c;
  std::string props;
  put_property_u16(props, receive_maximum, 2);
  put_property_string(props, reason_string, "ok then");
  std::string body = bytes({0x01, 0x00});
  put_properties(body, props);
  REQUIRE(parse_connack(body, v5, c, why));
  CHECK(c.session_present);
  CHECK(c.reason == 0);
  CHECK(c.props.number_or(receive_maximum, 0) == 2);
  REQUIRE(parse_connack(bytes({0x00, 0x87, 0}), v5, c, why));
  CHECK(c.reason == 0x87);
  CHECK_THAT(describe_reason(c.reason, "no"), Catch::Contains("0x87 not authorized") &&
                                               Catch::Contains(": no"));
  CHECK_FALSE(parse_connack(bytes({0x02, 0x00, 0}), v5, c, why)); // reserved flag bit
  CHECK_FALSE(parse_connack(bytes({0x00, 0x00, 0, 1}), v5, c, why));
  CHECK_THAT(why, Catch::Contains("bytes after its properties"));
  CHECK_FALSE(parse_connack(bytes({0x00, 0x00, 2, 0x21, 0}), v5, c, why));
  CHECK_THAT(why, Catch::Contains("truncated"));
  CHECK_FALSE(parse_connack(bytes({0x00, 0x00, 0}), v311, c, why)); // 3.1.1: exactly 2 bytes

  suback_info s;
  const auto suback_body = bytes({0, 7, 0, 0x01, 0x97}); // codes are a view into it
  REQUIRE(parse_suback(suback_body, v5, s, why));
  CHECK(s.packet_id == 7);
  CHECK(s.codes == bytes({0x01, 0x97}));
  CHECK_FALSE(parse_suback(bytes({0, 7, 0}), v5, s, why));
  CHECK_THAT(why, Catch::Contains("without a reason code"));
  const auto suback311 = bytes({0, 7, 0x80});
  REQUIRE(parse_suback(suback311, v311, s, why)); // 3.1.1: no properties
  CHECK(s.codes == bytes({0x80}));

  puback_info a;
  REQUIRE(parse_puback(bytes({0, 9}), v5, a, why));
  CHECK(a.packet_id == 9);
  CHECK(a.reason == 0);
  REQUIRE(parse_puback(bytes({0, 9, 0x10}), v5, a, why));
  CHECK(a.reason == 0x10);
  std::string pa = bytes({0, 9, 0x87});
  std::string rs;
  put_property_string(rs, reason_string, "acl");
  put_properties(pa, rs);
  REQUIRE(parse_puback(pa, v5, a, why));
  CHECK(a.reason == 0x87);
  CHECK(a.props.text_or(reason_string) == "acl");
  CHECK_FALSE(parse_puback(bytes({0, 9, 0}), v311, a, why));
  std::string content_in_puback = bytes({0, 9, 0});
  std::string ct;
  put_property_string(ct, content_type, "x");
  put_properties(content_in_puback, ct);
  CHECK_FALSE(parse_puback(content_in_puback, v5, a, why));
  CHECK_THAT(why, Catch::Contains("not allowed in packet type 4"));

  disconnect_info d;
  REQUIRE(parse_disconnect("", d, why));
  CHECK(d.reason == 0);
  std::string db = bytes({0x8e});
  std::string dr;
  put_property_string(dr, reason_string, "taken over");
  put_properties(db, dr);
  REQUIRE(parse_disconnect(db, d, why));
  CHECK(d.reason == 0x8e);
  CHECK(d.props.text_or(reason_string) == "taken over");
  CHECK_FALSE(parse_disconnect(bytes({0x00, 5}), d, why));
}
