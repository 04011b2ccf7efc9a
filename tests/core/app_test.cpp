#include "core/app.hpp"

#include <catch2/catch.hpp>

using namespace spry::core;

TEST_CASE("an app composed in C++ compiles to the same model as YAML", "[app]") {
  app a("shop");
  a.function("front", [](message&) {}, 2);
  a.function("cart", [](message&) {});
  a.function("pay", [](message&) {});
  a.chain("checkout").http("POST", "/checkout").then("front").then("cart")
    .route("cart", "pay", "pay").route("pay", "*", "end").pool(8, 1024).timeout_ms(500);
  REQUIRE(a.errors().empty());
  const auto& s = a.spec();
  CHECK(s.functions[0].min_instances == 2);
  CHECK(s.chains[0].pool.buffers == 8);
  CHECK(s.chains[0].timeout_ms == 500);
  auto c = compile(s);
  REQUIRE(c);
  auto t = route_table::build(c->heads, c->rules);
  REQUIRE(t);
  CHECK(t->head(0) == function_id{0});
  CHECK(t->next(0, 0, "") == function_id{1});
  CHECK(t->next(0, 1, "pay") == function_id{2});
  CHECK(t->next(0, 1, "") == end_of_chain);
  CHECK(t->next(0, 2, "") == end_of_chain);
}

TEST_CASE("registering a function twice is reported", "[app]") {
  app a("dup");
  a.function("f", [](message&) {});
  a.function("f", [](message&) {});
  REQUIRE(a.errors().size() == 1);
  CHECK_THAT(a.errors()[0], Catch::Contains("registered twice"));
}

TEST_CASE("a C++ app with a mistake fails to compile with the name in the message", "[app]") {
  app a("broken");
  a.function("f", [](message&) {});
  a.chain("c").then("g");
  auto c = compile(a.spec());
  REQUIRE_FALSE(c);
  CHECK_THAT(c.err().message, Catch::Contains("chain 'c': unknown function 'g'"));
}
