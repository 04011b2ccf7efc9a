#pragma once
// A small, seedable, reproducible random generator for policies and the policy lab.
//
// Why not std::mt19937_64: its 2.5 KB state is copied with every policy object and the lab keeps
// one generator per random stream (per function, per workload source); splitmix64 passes BigCrush,
// is 8 bytes, never throws, and gives the same sequence on every platform, so a lab result is
// reproducible from its seed alone. (std::*_distribution are implementation-defined, so the
// helpers below do their own transforms for the same reason.)

#include <cmath>
#include <cstdint>

namespace spry::policies {

class random_stream {
public:
  using result_type = uint64_t;

  explicit random_stream(uint64_t seed = 0x5eed) noexcept : state_(seed) {}

  /// A generator whose sequence is independent of this one's for a different `stream` id.
  static random_stream derive(uint64_t seed, uint64_t stream) noexcept {
    random_stream r(seed ^ (stream * 0xd1b54a32d192ed03ull + 0x2545f4914f6cdd1dull));
    r.next();
    return r;
  }

  static constexpr uint64_t min() noexcept { return 0; }
  static constexpr uint64_t max() noexcept { return UINT64_MAX; }
  uint64_t operator()() noexcept { return next(); }

  uint64_t next() noexcept {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  /// Uniform in [0, 1).
  double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  /// Uniform integer in [0, n), n >= 1 (Lemire's multiply-shift; the tiny bias is irrelevant here).
  uint64_t below(uint64_t n) noexcept {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }

  /// Exponentially distributed with the given mean.
  double exponential(double mean) noexcept { return -mean * std::log1p(-uniform()); }

  /// Standard normal (Box-Muller; one value per call keeps the stream position simple).
  double normal() noexcept {
    const double u1 = 1.0 - uniform(); // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

private:
  uint64_t state_;
};

} // namespace spry::policies
