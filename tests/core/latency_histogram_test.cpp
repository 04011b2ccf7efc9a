#include "core/latency_histogram.hpp"

#include <catch2/catch.hpp>

#include <random>

using spry::core::latency_histogram;

TEST_CASE("histogram buckets cover every value with bounded error", "[histogram]") {
  for (uint64_t v : {0ull, 1ull, 63ull, 64ull, 65ull, 127ull, 128ull, 1000ull, 123456789ull,
                     (1ull << 40) + 12345, 0xFFFFFFFFFFFFFFFFull}) {
    const unsigned i = latency_histogram::index_of(v);
    REQUIRE(i < latency_histogram::bucket_count);
    const uint64_t edge = latency_histogram::upper_edge(i);
    CHECK(edge >= v);
    CHECK(static_cast<double>(edge - v) <= static_cast<double>(v) / 64.0 + 1.0);
    if (i > 0)
      CHECK(latency_histogram::upper_edge(i - 1) < v);
  }
}

TEST_CASE("percentiles of a known distribution", "[histogram]") {
  latency_histogram h;
  for (uint64_t v = 1; v <= 10000; ++v)
    h.record(v * 1000); // 1 us .. 10 ms
  CHECK(h.count() == 10000);
  CHECK(h.min() == 1000);
  CHECK(h.max() == 10000000);
  CHECK(h.mean() == Approx(5000500.0));
  CHECK(h.percentile(0.5) == Approx(5000000).epsilon(0.02));
  CHECK(h.percentile(0.99) == Approx(9900000).epsilon(0.02));
  CHECK(h.percentile(1.0) == 10000000);
  CHECK(h.percentile(0.0) == Approx(1000).epsilon(0.02));
  CHECK(h.percentile(0.5) >= 5000000); // never under-reported
}

TEST_CASE("merging histograms equals recording into one", "[histogram]") {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(10, 1.5);
  latency_histogram all, a, b;
  for (int i = 0; i < 20000; ++i) {
    const auto v = static_cast<uint64_t>(dist(rng));
    all.record(v);
    (i % 2 ? a : b).record(v);
  }
  a.merge(b);
  CHECK(a.count() == all.count());
  CHECK(a.min() == all.min());
  CHECK(a.max() == all.max());
  for (double q : {0.1, 0.5, 0.9, 0.99, 0.999})
    CHECK(a.percentile(q) == all.percentile(q));
  a.reset();
  CHECK(a.count() == 0);
  CHECK(a.percentile(0.5) == 0);
}

TEST_CASE("the CDF rises to 1 and agrees with the percentiles", "[histogram]") {
  latency_histogram h;
  CHECK(h.cdf().empty());
  for (uint64_t v = 1; v <= 1000; ++v)
    h.record(v * 1000);
  const auto cdf = h.cdf();
  REQUIRE(!cdf.empty());
  CHECK(cdf.back().first == h.max());
  CHECK(cdf.back().second == Approx(1.0));
  for (size_t i = 1; i < cdf.size(); ++i) {
    CHECK(cdf[i].first > cdf[i - 1].first);
    CHECK(cdf[i].second > cdf[i - 1].second);
  }
  // The first point at or above one half is the median bucket.
  for (const auto& [value, fraction] : cdf)
    if (fraction >= 0.5) {
      CHECK(value == h.percentile(0.5));
      break;
    }
}
