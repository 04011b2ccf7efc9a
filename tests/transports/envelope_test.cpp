#include "core/message.hpp"
#include "transports/tcp/envelope.hpp"

#include <catch2/catch.hpp>

using namespace spry;
using namespace spry::transports::tcp;

TEST_CASE("an envelope carries every header field and the payload", "[envelope]") {
  core::buffer_header h{};
  h.request_id = 0x1122334455667788ull;
  h.chain = 3;
  h.hop_count = 2;
  h.status = 1;
  h.http_status = 418;
  h.function = 7;
  h.queue_length = 9;
  h.instance = 12;
  h.t_ingress_ns = 100;
  h.t_sent_ns = 200;
  h.exec_ns = 300;
  h.home_offset = 4096;
  h.failed_at = 7;
  core::set_fixed_field(h.topic, core::topic_capacity, "sensors/kitchen");
  core::set_fixed_field(h.content_type, core::content_type_capacity, "application/json");
  const std::string payload("bin\0ary", 7);
  const auto bytes = encode_envelope(5, h, payload);
  msgpack::object_handle keep;
  auto e = parse_envelope(bytes, keep);
  REQUIRE(e);
  CHECK(e->dst == 5);
  CHECK(e->header.request_id == h.request_id);
  CHECK(e->header.chain == 3);
  CHECK(e->header.hop_count == 2);
  CHECK(e->header.status == 1);
  CHECK(e->header.http_status == 418);
  CHECK(e->header.function == 7);
  CHECK(e->header.queue_length == 9);
  CHECK(e->header.instance == 12);
  CHECK(e->header.exec_ns == 300);
  CHECK(e->header.home_offset == 4096);
  CHECK(e->header.failed_at == 7);
  CHECK(core::fixed_field(e->header.topic, core::topic_capacity) == "sensors/kitchen");
  CHECK(core::fixed_field(e->header.content_type, core::content_type_capacity) == "application/json");
  CHECK(e->payload == payload);
  CHECK(e->header.payload_length == 7);
}

TEST_CASE("malformed envelopes are refused with the reason", "[envelope]") {
  msgpack::object_handle keep;
  core::buffer_header h{};
  const auto good = encode_envelope(1, h, "x");
  SECTION("not msgpack") {
    auto e = parse_envelope("\xc1\xc1\xc1", keep);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.err().message, Catch::Contains("malformed envelope"));
  }
  SECTION("truncated") {
    auto e = parse_envelope(std::string_view(good).substr(0, good.size() - 3), keep);
    REQUIRE_FALSE(e);
  }
  SECTION("empty") { CHECK_FALSE(parse_envelope("", keep)); }
  SECTION("wrong arity") {
    auto e = parse_envelope("\x93\x01\x02\x03", keep);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.err().message, Catch::Contains("array of 18"));
  }
  SECTION("wrong version") {
    std::string bad = good;
    REQUIRE(static_cast<unsigned char>(bad[0]) == 0xdc); // array16 header: 3 bytes
    bad[3] = 0x07; // the version field (positive fixint) right after it
    auto e = parse_envelope(bad, keep);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.err().message, Catch::Contains("version 7"));
  }
  SECTION("field out of range") {
    std::string bad = good;
    REQUIRE(bad[5] == 0x00);          // chain 0, after header(3) version(1) dst(1)
    bad[5] = static_cast<char>(0xff); // -1 as a negative fixint: not a chain id
    auto e = parse_envelope(bad, keep);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.err().message, Catch::Contains("wrong type or range"));
  }
  SECTION("topic too long") {
    core::buffer_header big{};
    auto bytes = encode_envelope(1, big, "x");
    // Rebuild with a 65-byte topic by hand: replace the empty topic (0xa0) with a str8 of 65.
    const auto pos = bytes.find('\xa0');
    REQUIRE(pos != std::string::npos);
    bytes.replace(pos, 1, std::string("\xd9\x41", 2) + std::string(65, 't'));
    auto e = parse_envelope(bytes, keep);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.err().message, Catch::Contains("topic"));
  }
}

// Found by fuzz/tcp_envelope_fuzz: msgpack-c sized an array's element table from the count in
// its header, so a 5-byte frame declaring 2^32 elements made the receiver allocate ~100 GB.
TEST_CASE("an envelope declaring more elements than it has bytes is refused before allocating", "[envelope]") {
  msgpack::object_handle keep;
  for (const std::string& frame : {std::string("\xdd\xff\xff\xff\xff", 5),          // array32
                                  std::string("\xdd\x10\x00\x00\x00\x01", 6),      // 2^28 + 1
                                  std::string("\xdf\x7f\xff\xff\xff", 5)}) {       // map32
    auto e = parse_envelope(frame, keep);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.err().message, Catch::Contains("declares more elements than the"));
  }
}

TEST_CASE("an envelope nested deeper than any spry message is refused", "[envelope]") {
  msgpack::object_handle keep;
  const std::string frame(64, '\x91'); // 64 nested one-element arrays
  auto e = parse_envelope(frame + '\x01', keep);
  REQUIRE_FALSE(e);
  CHECK_THAT(e.err().message, Catch::Contains("nested deeper than"));
}

// Found by fuzz/tcp_envelope_fuzz: a topic with a NUL byte inside was accepted and silently cut
// at the NUL by the NUL-padded header field, so the next hop routed on another topic than the
// one sent (and a re-encoded envelope differed from the one received).
TEST_CASE("an envelope whose topic or content type contains a NUL byte is refused", "[envelope]") {
  msgpack::object_handle keep;
  core::buffer_header h{};
  core::set_fixed_field(h.topic, core::topic_capacity, "aXb");
  core::set_fixed_field(h.content_type, core::content_type_capacity, "tXt");
  const auto good = encode_envelope(1, h, "x");
  REQUIRE(parse_envelope(good, keep));
  for (const char* field : {"aXb", "tXt"}) {
    std::string bad = good;
    const auto at = bad.find(field);
    REQUIRE(at != std::string::npos);
    bad[at + 1] = '\0';
    auto e = parse_envelope(bad, keep);
    REQUIRE_FALSE(e);
    CHECK_THAT(e.err().message, Catch::Contains("contains a NUL byte"));
  }
}
