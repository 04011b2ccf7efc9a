#pragma once
// Synthetic functions for published workloads: burn a function's published mean CPU service
// time with real work on the CPU (never sleep), so the CPU that a benchmark reads from /proc is
// the CPU the function would have used.
//
// The service time is measured in the calling thread's own CPU time (CLOCK_THREAD_CPUTIME_ID),
// not in wall time: on a busy 2-core machine a function preempted half-way still does its whole
// share of work, as a real one would.
//
// Knob: SPRY_SERVICE_TIME_SCALE (a number >= 0, default 1) multiplies every service time, so a
// 2-core machine can run a workload published on 64-core nodes (0.02 = 50x shorter). It is read
// once per process from the environment, which every instance process inherits from `spry run`.
// Header-only: each function library includes it.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>

namespace synthetic {

inline constexpr const char* scale_variable = "SPRY_SERVICE_TIME_SCALE";

/// The scale in effect; unparsable or negative values count as 1 (and are reported once on
/// stderr, which the instance supervisor forwards).
inline double service_time_scale() {
  static const double scale = [] {
    const char* v = std::getenv(scale_variable);
    if (!v || !*v)
      return 1.0;
    char* end = nullptr;
    const double d = std::strtod(v, &end);
    if (end == v || *end != '\0' || !(d >= 0)) {
      std::fprintf(stderr, "%s=%s is not a number >= 0; using 1\n", scale_variable, v);
      return 1.0;
    }
    return d;
  }();
  return scale;
}

inline uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

/// Mixes `seed` with busy arithmetic until this thread has used `ns` more nanoseconds of CPU;
/// returns the mix so the compiler cannot drop the work.
inline uint64_t burn_cpu_ns(uint64_t ns, uint64_t seed = 0x9e3779b97f4a7c15ull) {
  uint64_t x = seed | 1;
  if (ns == 0)
    return x;
  const uint64_t until = thread_cpu_ns() + ns;
  do {
    for (int i = 0; i < 512; ++i) { // ~1 us of xorshift between clock reads (a syscall each)
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
    }
  } while (thread_cpu_ns() < until);
  return x;
}

/// Burns `published_ms` x the scale.
inline uint64_t burn_service_time(double published_ms, uint64_t seed = 0x9e3779b97f4a7c15ull) {
  return burn_cpu_ns(static_cast<uint64_t>(published_ms * service_time_scale() * 1e6), seed);
}

/// FNV-1a over bytes: a cheap, deterministic digest used as real work on the payload.
inline uint64_t digest(std::string_view bytes, uint64_t h = 14695981039346656037ull) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

} // namespace synthetic
