#include "core/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace spry::core {

unsigned latency_histogram::index_of(uint64_t v) noexcept {
  if (v < sub_count)
    return static_cast<unsigned>(v);
  const unsigned e = 63u - static_cast<unsigned>(__builtin_clzll(v)); // floor(log2 v) >= sub_bits
  const unsigned sub = static_cast<unsigned>((v >> (e - sub_bits)) & (sub_count - 1));
  return (e - sub_bits + 1) * sub_count + sub;
}

uint64_t latency_histogram::upper_edge(unsigned index) noexcept {
  if (index < sub_count)
    return index;
  const unsigned e = index / sub_count + sub_bits - 1;
  const uint64_t sub = index % sub_count;
  const uint64_t lower = (uint64_t{1} << e) | (sub << (e - sub_bits));
  return lower + ((uint64_t{1} << (e - sub_bits)) - 1);
}

void latency_histogram::record(uint64_t v) noexcept {
  counts_[index_of(v)]++;
  count_++;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
  sum_ += v;
}

void latency_histogram::merge(const latency_histogram& o) noexcept {
  for (unsigned i = 0; i < bucket_count; ++i)
    counts_[i] += o.counts_[i];
  count_ += o.count_;
  min_ = std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
  sum_ += o.sum_;
}

void latency_histogram::reset() noexcept { *this = latency_histogram{}; }

uint64_t latency_histogram::percentile(double q) const noexcept {
  if (count_ == 0)
    return 0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * count_)));
  uint64_t seen = 0;
  for (unsigned i = 0; i < bucket_count; ++i) {
    seen += counts_[i];
    if (seen >= rank)
      return std::min(upper_edge(i), max_);
  }
  return max_;
}

std::vector<std::pair<uint64_t, double>> latency_histogram::cdf() const {
  std::vector<std::pair<uint64_t, double>> out;
  uint64_t seen = 0;
  for (unsigned i = 0; i < bucket_count && seen < count_; ++i) {
    if (counts_[i] == 0)
      continue;
    seen += counts_[i];
    out.emplace_back(std::min(upper_edge(i), max_), static_cast<double>(seen) / count_);
  }
  return out;
}

} // namespace spry::core
