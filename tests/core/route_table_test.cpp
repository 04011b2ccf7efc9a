#include "core/route_table.hpp"
#include "core/versioned.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace spry::core;

TEST_CASE("a linear chain routes each function to the next, the last to the end", "[routes]") {
  auto t = route_table::build({0}, route_table::linear(0, {0, 1, 2}));
  REQUIRE(t);
  CHECK(t->head(0) == function_id{0});
  CHECK(t->next(0, 0, "") == function_id{1});
  CHECK(t->next(0, 1, "anything") == function_id{2});
  CHECK(t->next(0, 2, "") == end_of_chain);
  CHECK_FALSE(t->next(0, 3, ""));
  CHECK_FALSE(t->next(1, 0, ""));
  CHECK_FALSE(t->head(1));
}

TEST_CASE("topic routes win over the default route", "[routes]") {
  std::vector<route_table::rule> rules = {
    {0, 0, "car", 1}, {0, 0, "person", 2}, {0, 0, "*", end_of_chain},
    {0, 1, "*", end_of_chain}, {0, 2, "*", end_of_chain}};
  auto t = route_table::build({0}, rules);
  REQUIRE(t);
  CHECK(t->next(0, 0, "car") == function_id{1});
  CHECK(t->next(0, 0, "person") == function_id{2});
  CHECK(t->next(0, 0, "dog") == end_of_chain);
}

TEST_CASE("without a default, an unknown topic has no route", "[routes]") {
  auto t = route_table::build({0}, {{0, 0, "a", 1}, {0, 1, "*", end_of_chain}});
  REQUIRE(t);
  CHECK_FALSE(t->next(0, 0, "b"));
}

TEST_CASE("routes are per chain", "[routes]") {
  auto rules = route_table::linear(0, {0, 1});
  auto second = route_table::linear(1, {1, 0});
  rules.insert(rules.end(), second.begin(), second.end());
  auto t = route_table::build({0, 1}, rules);
  REQUIRE(t);
  CHECK(t->next(0, 0, "") == function_id{1});
  CHECK(t->next(1, 1, "") == function_id{0});
  CHECK(t->next(1, 0, "") == end_of_chain);
}

TEST_CASE("duplicate rules are refused", "[routes]") {
  CHECK_FALSE(route_table::build({0}, {{0, 0, "*", 1}, {0, 0, "*", 2}}));
  CHECK_FALSE(route_table::build({0}, {{0, 0, "x", 1}, {0, 0, "x", 2}}));
  CHECK_FALSE(route_table::build({0}, {{3, 0, "*", 1}}));
}

TEST_CASE("a published table reaches readers, and their old snapshot stays valid", "[routes]") {
  versioned<route_table> v(std::make_shared<const route_table>(
    *route_table::build({0}, route_table::linear(0, {0, 1}))));
  versioned<route_table>::reader r(v);
  const route_table& before = r.get();
  CHECK(before.next(0, 0, "") == function_id{1});
  v.publish(std::make_shared<const route_table>(
    *route_table::build({0}, route_table::linear(0, {0, 2}))));
  CHECK(r.get().next(0, 0, "") == function_id{2});
}

TEST_CASE("readers see updates while a writer publishes concurrently", "[routes]") {
  versioned<route_table> v(std::make_shared<const route_table>(
    *route_table::build({0}, route_table::linear(0, {0, 1}))));
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::thread reader([&] {
    versioned<route_table>::reader r(v);
    while (!done.load()) {
      auto n = r.get().next(0, 0, "");
      if (!n || (*n != 1 && *n != 2))
        ++bad;
    }
  });
  for (int i = 0; i < 2000; ++i)
    v.publish(std::make_shared<const route_table>(
      *route_table::build({0}, route_table::linear(0, {0, static_cast<function_id>(1 + i % 2)}))));
  done = true;
  reader.join();
  CHECK(bad == 0);
  CHECK(v.version() == 2001);
}
