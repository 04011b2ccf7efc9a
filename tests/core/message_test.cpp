#include "core/message.hpp"
#include "core/pool.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <optional>

using namespace spry::core;

namespace {
struct fixture {
  fixture() {
    pool_options o;
    o.buffer_count = 1;
    o.buffer_size = 32;
    o.try_hugepages = false;
    p.emplace(std::move(*pool::create(o)));
    b = p->alloc();
  }
  std::optional<pool> p;
  buffer_header* b;
};
} // namespace

TEST_CASE("message reads and writes the buffer in place", "[message]") {
  fixture f;
  std::memcpy(pool::payload(f.b), "abc", 3);
  f.b->payload_length = 3;
  message m(f.b, 32);
  CHECK(m.payload() == "abc");
  CHECK(m.data() == pool::payload(f.b));
  m.data()[0] = 'X';
  CHECK(m.payload() == "Xbc");
  m.write("hello");
  CHECK(m.payload() == "hello");
  m.set_length(2);
  CHECK(m.payload() == "he");
  m.set_topic("orders/new");
  CHECK(m.topic() == "orders/new");
  m.set_content_type("application/json");
  CHECK(m.content_type() == "application/json");
  CHECK_FALSE(m.failed());
}

TEST_CASE("output larger than the buffer is an error, not an overflow", "[message]") {
  fixture f;
  message m(f.b, 32);
  CHECK_THROWS_AS(m.set_length(33), std::length_error);
  CHECK_THROWS_WITH(m.write(std::string(40, 'x')), Catch::Contains("exceeds the buffer size of 32"));
  CHECK_THROWS_AS(m.set_topic(std::string(65, 't')), std::length_error);
  m.set_topic(std::string(64, 't')); // exactly the capacity fits
  CHECK(m.topic().size() == 64);
}

TEST_CASE("a corrupt length in the header is clamped when read", "[message]") {
  fixture f;
  f.b->payload_length = 1u << 30;
  message m(f.b, 32);
  CHECK(m.payload().size() == 32);
}

TEST_CASE("fail records the reason as the payload", "[message]") {
  fixture f;
  message m(f.b, 32);
  m.write("data");
  m.fail("bad input", 422);
  CHECK(m.failed());
  CHECK(m.payload() == "bad input");
  CHECK(f.b->http_status == 422);
  CHECK(f.b->status == static_cast<uint16_t>(buffer_status::function_error));
  message m2(f.b, 4);
  m2.fail("a reason longer than the buffer");
  CHECK(m2.payload() == "a re");
}
