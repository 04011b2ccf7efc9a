#include "core/control_channel.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace spry::core;

namespace {

std::string frame_of(const std::string& body) {
  const auto n = static_cast<uint32_t>(body.size());
  std::string f{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                static_cast<char>(n)};
  return f + body;
}

} // namespace

TEST_CASE("control messages survive encode and decode fed byte by byte", "[control_channel]") {
  control_message m;
  m.type = control_message::kind::directory;
  m.directory = {{1, 2}, {}, {7}};
  m.version = 9;
  const std::string frame = encode_control(m);
  control_reader r;
  for (size_t i = 0; i + 1 < frame.size(); ++i) {
    r.feed(frame.data() + i, 1);
    REQUIRE_FALSE(r.next());
  }
  r.feed(frame.data() + frame.size() - 1, 1);
  auto got = r.next();
  REQUIRE(got);
  REQUIRE(*got);
  CHECK((*got)->type == control_message::kind::directory);
  CHECK((*got)->directory == m.directory);
  CHECK((*got)->version == 9);
}

// Found by fuzz/control_channel_fuzz: msgpack-c sized an array's element table from the count
// in its header, so a frame of a few bytes declaring 2^32 elements made the node agent allocate
// ~100 GB.
TEST_CASE("a control frame declaring more elements than it has bytes is refused before allocating", "[control_channel]") {
  for (const std::string& body : {std::string("\xdd\xff\xff\xff\xff", 5),
                                 std::string("\x92\xa5peers\xdd\x10\x00\x00\x00", 12),
                                 std::string("\x93\xa9" "directory\x91\xdd\x7f\xff\xff\xff\x01", 18)}) {
    control_reader r;
    const auto f = frame_of(body);
    r.feed(f.data(), f.size());
    auto got = r.next();
    REQUIRE(got);
    REQUIRE_FALSE(*got);
    CHECK_THAT(got->err().message, Catch::Contains("declares more elements than the"));
  }
}
