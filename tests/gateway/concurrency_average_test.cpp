#include "gateway/concurrency_average.hpp"

#include <catch2/catch.hpp>

using spry::gateway::concurrency_average;

namespace {
constexpr uint64_t s = 1000000000ull; // ns per second
}

TEST_CASE("concurrency is averaged over time, not read at the decision instant", "[gateway]") {
  concurrency_average a;
  // 10 requests in flight for the first second, none for the next three: the instant value at
  // the decision (0) says idle; the time average says 2.5 (the trapezoids of 100 ms samples).
  uint64_t t = 1 * s;
  a.sample(t, 10);
  for (int i = 1; i <= 10; ++i)
    a.sample(t + i * s / 10, i < 10 ? 10 : 0);
  for (int i = 11; i < 40; ++i)
    a.sample(t + i * s / 10, 0);
  const double avg = a.take(t + 4 * s, 0);
  CHECK(avg == Approx((0.9 * 10 + 0.1 * 5) / 4.0));
  // The next average starts where this one ended.
  a.sample(t + 5 * s, 4);
  CHECK(a.take(t + 6 * s, 4) == Approx((0.5 * 4 * 1 + 4 * 1) / 2.0));
  // No time elapsed: the value itself.
  CHECK(a.take(t + 6 * s, 7) == 7);
}
