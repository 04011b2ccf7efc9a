// core/hop_measurement.cpp: what every transport's hop benchmark reports, summarised the same way.
#include "core/hop_measurement.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

using spry::core::hop_measurement;

TEST_CASE("a hop measurement summarises one-way samples in any order", "[hop_measurement]") {
  std::vector<uint64_t> samples;
  for (uint64_t v = 1; v <= 100; ++v)
    samples.push_back(v);
  std::shuffle(samples.begin(), samples.end(), std::mt19937(7));
  const auto m = hop_measurement::of("ping-pong", samples);
  CHECK(m.what == "ping-pong");
  CHECK(m.round_trips == 100);
  CHECK(m.p50_ns == 51); // the sample at index 50 of the sorted 100
  CHECK(m.p99_ns == 100);
  CHECK(m.mean_ns == Approx(50.5));
}

TEST_CASE("a hop measurement of no samples is all zero", "[hop_measurement]") {
  const auto m = hop_measurement::of("nothing", {});
  CHECK(m.round_trips == 0);
  CHECK(m.p50_ns == 0);
  CHECK(m.p99_ns == 0);
  CHECK(m.mean_ns == 0);
  const auto one = hop_measurement::of("one", {42});
  CHECK(one.p50_ns == 42);
  CHECK(one.p99_ns == 42);
  CHECK(one.mean_ns == 42);
}
