#pragma once
// A small HdrHistogram-style latency recorder: log-linear buckets (64 linear sub-buckets per
// power of two), so any value up to 2^63 ns is recorded in O(1) with at most 1/64 (~1.6 %)
// relative error, in a fixed 30 KiB with no allocation after construction. Not thread-safe:
// give each thread its own and merge().

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace spry::core {

class latency_histogram {
public:
  static constexpr unsigned sub_bits = 6;
  static constexpr unsigned sub_count = 1u << sub_bits;
  static constexpr unsigned bucket_count = (64 - sub_bits + 1) * sub_count;

  void record(uint64_t value) noexcept;
  void merge(const latency_histogram& other) noexcept;
  void reset() noexcept;

  uint64_t count() const noexcept { return count_; }
  uint64_t min() const noexcept { return count_ ? min_ : 0; }
  uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
  /// The value at quantile q in [0, 1] (e.g. 0.99), reported as the upper edge of its bucket
  /// clamped to the observed max, so p100 == max and no percentile is under-reported.
  uint64_t percentile(double q) const noexcept;
  /// The distribution as (value, fraction of values <= it) for every non-empty bucket, values
  /// being bucket upper edges clamped to the max: a CDF to plot.
  std::vector<std::pair<uint64_t, double>> cdf() const;

  /// Exposed for tests: bucket index of a value and the largest value of a bucket.
  static unsigned index_of(uint64_t value) noexcept;
  static uint64_t upper_edge(unsigned index) noexcept;

private:
  std::array<uint64_t, bucket_count> counts_{};
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  uint64_t sum_ = 0; // wraps after ~584 years of nanoseconds: fine
};

} // namespace spry::core
