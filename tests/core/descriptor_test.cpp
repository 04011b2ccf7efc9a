#include "core/descriptor.hpp"
#include "core/descriptor_check.hpp"
#include "core/pool.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace spry::core;

TEST_CASE("a descriptor is 16 plain bytes", "[descriptor]") {
  STATIC_REQUIRE(sizeof(descriptor) == 16);
  STATIC_REQUIRE(std::is_trivially_copyable_v<descriptor>);
  descriptor a{7, 2, 1, 4096};
  descriptor b = a;
  CHECK(a == b);
  b.offset += 1;
  CHECK_FALSE(a == b);
}

TEST_CASE("descriptor references are validated against the pool", "[descriptor]") {
  pool_options o;
  o.buffer_count = 4;
  o.buffer_size = 100;
  o.try_hugepages = false;
  auto p = pool::create(o);
  REQUIRE(p);
  auto* b = p->alloc();
  const uint64_t off = p->offset_of(b);
  CHECK(p->resolve(off) == b);
  SECTION("outside the mapping") {
    CHECK(p->resolve(p->mapping_size()) == nullptr);
    CHECK(p->resolve(UINT64_MAX) == nullptr);
    CHECK(p->resolve(UINT64_MAX - 255) == nullptr);
  }
  SECTION("inside the control block") {
    CHECK(p->resolve(0) == nullptr);
    CHECK(p->resolve(64) == nullptr);
  }
  SECTION("not at a buffer boundary") {
    CHECK(p->resolve(off + 1) == nullptr);
    CHECK(p->resolve(off + sizeof(buffer_header)) == nullptr);
  }
  SECTION("a free buffer") {
    auto* other = p->alloc();
    const uint64_t other_off = p->offset_of(other);
    p->release(other);
    CHECK(p->resolve(other_off) == nullptr);
  }
  p->release(b);
}

TEST_CASE("check_descriptor refuses an unknown pool a bad offset a stale tag and a buffer not handed over with the reason", "[descriptor]") {
  pool_options o;
  o.buffer_count = 2;
  o.buffer_size = 64;
  o.try_hugepages = false;
  std::vector<pool> pools;
  auto p = pool::create(o);
  REQUIRE(p);
  pools.push_back(std::move(*p));
  auto* b = pools[0].alloc();
  b->request_id = 0x10005;
  const uint64_t off = pools[0].offset_of(b);
  const auto ok = check_descriptor(pools, {1, 0, tag_of(b->request_id), off});
  CHECK(ok.buffer == b);
  CHECK(ok.why == nullptr);
  const auto unknown = check_descriptor(pools, {1, 1, tag_of(b->request_id), off});
  CHECK(unknown.buffer == nullptr);
  CHECK_THAT(unknown.why, Catch::Contains("unknown pool"));
  const auto outside = check_descriptor(pools, {1, 0, tag_of(b->request_id), off + 1});
  CHECK(outside.buffer == nullptr);
  CHECK_THAT(outside.why, Catch::Contains("outside the pool"));
  const auto stale = check_descriptor(pools, {1, 0, static_cast<uint16_t>(tag_of(b->request_id) + 1), off});
  CHECK(stale.buffer == nullptr);
  CHECK_THAT(stale.why, Catch::Contains("stale"));
  b->owner = 7; // shared pools: handed to endpoint 7
  CHECK(check_descriptor(pools, {7, 0, tag_of(b->request_id), off}, 7u).buffer == b);
  const auto not_handed = check_descriptor(pools, {1, 0, tag_of(b->request_id), off}, 1u);
  CHECK(not_handed.buffer == nullptr);
  CHECK_THAT(not_handed.why, Catch::Contains("ownership word"));
  pools[0].release(b);
  CHECK(check_descriptor(pools, {1, 0, tag_of(0x10005), off}).buffer == nullptr); // released
}
