#include "core/function_library.hpp"
#include "core/pool.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <string>

using namespace spry::core;

namespace {

// A pool of one small buffer, for running a loaded function on a message.
pool one_buffer_pool() {
  pool_options o;
  o.buffer_count = 1;
  o.buffer_size = 128;
  o.try_hugepages = false;
  auto p = pool::create(o);
  REQUIRE(p);
  return std::move(*p);
}

} // namespace

TEST_CASE("a function library registers its functions", "[library]") {
  function_registry r;
  auto lib = function_library::load(SPRY_HELLO_LIBRARY, r);
  REQUIRE(lib);
  REQUIRE(r.find("hello.uppercase"));
  REQUIRE(r.find("hello.count"));

  auto p = one_buffer_pool();
  auto* b = p.alloc();
  message m(b, 128);
  m.write("two words");
  (*r.find("hello.uppercase"))(m);
  CHECK(m.payload() == "TWO WORDS");
  (*r.find("hello.count"))(m);
  CHECK(m.payload() == R"({"text":"TWO WORDS","words":2,"bytes":9})");
}

TEST_CASE("bad function libraries are refused with the reason", "[library]") {
  function_registry r;
  SECTION("missing file") {
    auto lib = function_library::load("/nonexistent/libnope.so", r);
    REQUIRE_FALSE(lib);
    CHECK_THAT(lib.err().message, Catch::Contains("cannot load function library '/nonexistent/libnope.so'"));
  }
  SECTION("not a spry library") {
    auto lib = function_library::load("libm.so.6", r);
    REQUIRE_FALSE(lib);
    CHECK_THAT(lib.err().message, Catch::Contains("is not a spry function library"));
  }
  SECTION("wrong ABI") {
    auto lib = function_library::load(SPRY_BAD_ABI_LIBRARY, r);
    REQUIRE_FALSE(lib);
    CHECK_THAT(lib.err().message, Catch::Contains("built for function ABI 999"));
    CHECK(r.names().empty());
  }
  SECTION("a name defined twice") {
    REQUIRE(function_library::load(SPRY_HELLO_LIBRARY, r));
    auto again = function_library::load(SPRY_HELLO_LIBRARY, r);
    REQUIRE_FALSE(again);
    CHECK_THAT(again.err().message, Catch::Contains("already defined"));
  }
}

TEST_CASE("a library loaded again while held is shared, and opened again once released",
          "[library]") {
  auto p = one_buffer_pool();
  auto* b = p.alloc();
  auto upper = [&](function_registry& r) {
    message m(b, 128);
    m.write("abc");
    (*r.find("hello.uppercase"))(m);
    return std::string(m.payload());
  };
  {
    function_registry first, second;
    auto a = function_library::load(SPRY_HELLO_LIBRARY, first);
    auto b2 = function_library::load(SPRY_HELLO_LIBRARY, second);
    REQUIRE(a);
    REQUIRE(b2);
    CHECK((*b2)->handlers() == (*a)->handlers());
    a->reset();
    first = function_registry{}; // the first holder is gone: the second still runs
    CHECK(upper(second) == "ABC");
  }
  // Every holder is gone: a new load opens it again and works.
  function_registry again;
  REQUIRE(function_library::load(SPRY_HELLO_LIBRARY, again));
  CHECK(upper(again) == "ABC");
}
