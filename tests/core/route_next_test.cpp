// core/route_next.hpp: the routing decision after a function ran, and the one table that maps
// its outcomes (and send statuses) to buffer and HTTP statuses.

#include "core/instance.hpp"
#include "core/message.hpp"
#include "core/pool.hpp"
#include "core/route_next.hpp"
#include "core/route_table.hpp"

#include <catch2/catch.hpp>

#include <optional>

using namespace spry::core;

TEST_CASE("next_function: the next function, the end, no route, or a routing loop", "[routes]") {
  auto t = route_table::build({0}, route_table::linear(0, {0, 1}));
  REQUIRE(t);
  auto h = next_function(*t, 0, 0, "", 1);
  CHECK(h.outcome == hop_outcome::sent);
  CHECK(h.next == function_id{1});
  CHECK(next_function(*t, 0, 1, "", 2).outcome == hop_outcome::end_of_chain);
  CHECK(next_function(*t, 0, 7, "", 1).outcome == hop_outcome::no_route);
  CHECK(next_function(*t, 0, 0, "", max_hops).outcome == hop_outcome::hop_limit);
  // The end of the chain is not a loop, however many hops came before.
  CHECK(next_function(*t, 0, 1, "", max_hops).outcome == hop_outcome::end_of_chain);
}

TEST_CASE("outcome_of and the status table", "[routes]") {
  CHECK(outcome_of(send_status::ok) == hop_outcome::sent);
  CHECK(outcome_of(send_status::backpressure) == hop_outcome::overloaded);
    CHECK(outcome_of(send_status::unknown_endpoint) == hop_outcome::no_instance);
  CHECK(outcome_of(send_status::closed) == hop_outcome::unreachable);
  CHECK(outcome_of(send_status::invalid) == hop_outcome::unreachable);
  CHECK(failure_of(hop_outcome::sent).http_status == 0);
  CHECK(failure_of(hop_outcome::end_of_chain).http_status == 0);
  CHECK(failure_of(hop_outcome::no_route).http_status == 502);
  CHECK(failure_of(hop_outcome::hop_limit).http_status == 508);
  CHECK(failure_of(hop_outcome::overloaded).http_status == 503);
  CHECK(failure_of(hop_outcome::unreachable).http_status == 502);
  CHECK(failure_of(hop_outcome::overloaded).status == buffer_status::overloaded);
  CHECK(failure_of(hop_outcome::hop_limit).status == buffer_status::hop_limit);
  CHECK(http_status_of(send_status::backpressure) == 503);
  CHECK(http_status_of(send_status::unknown_endpoint) == 502);
  CHECK(http_status_of(send_status::closed) == 502);
}

TEST_CASE("fail_hop writes the table's status and a reason into the buffer", "[routes]") {
  pool_options o;
  o.buffer_count = 1;
  o.buffer_size = 256;
  o.try_hugepages = false;
  std::optional<pool> p;
  p.emplace(std::move(*pool::create(o)));
  buffer_header* b = p->alloc();
  REQUIRE(b);
  message m(b, 256);
  m.write("payload");
  m.set_topic("cars");

  next_hop held;
  held.outcome = hop_outcome::no_instance;
  fail_hop(m, held, "upper");
  CHECK(b->status == static_cast<uint16_t>(buffer_status::no_instance));
  CHECK(m.payload() == "payload"); // carried on unchanged to where it is held
  CHECK(b->http_status == 0);

  next_hop none;
  none.outcome = hop_outcome::no_route;
  b->status = static_cast<uint16_t>(buffer_status::ok);
  fail_hop(m, none, "upper");
  CHECK(m.failed());
  CHECK(b->status == static_cast<uint16_t>(buffer_status::no_route));
  CHECK(b->http_status == 502);
  CHECK_THAT(std::string(m.payload()), Catch::Contains("upper") && Catch::Contains("cars"));

  next_hop busy;
  busy.outcome = hop_outcome::overloaded;
  busy.st = send_status::backpressure;
  fail_hop(m, busy, "upper");
  CHECK(b->status == static_cast<uint16_t>(buffer_status::overloaded));
  CHECK(b->http_status == 503);
}
