#include "core/descriptor.hpp"
#include "core/pool.hpp"

#include <catch2/catch.hpp>

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
