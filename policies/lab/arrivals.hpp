#pragma once
// Arrival processes: when the requests of one source arrive. Each is a small state machine asked
// for the next arrival time after the previous one; randomness comes from the caller's stream, so
// one seed reproduces the whole run and every policy sees the same arrivals.

#include "policies/random.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace spry::policies::lab {

class arrival_process {
public:
  virtual ~arrival_process() = default;
  /// The next arrival strictly after the previous one (`now` is the previous arrival, or the
  /// start); +infinity when the source has nothing more.
  virtual double next(double now, random_stream& rng) = 0;
};

/// Poisson: exponential gaps at a constant rate.
class poisson_arrivals final : public arrival_process {
public:
  explicit poisson_arrivals(double rate) : rate_(rate) {}
  double next(double now, random_stream& rng) override;

private:
  double rate_;
};

/// Markov-modulated Poisson process with states visited in a cycle (2 states: on/off bursts).
/// Each state has a rate (0 allowed) and an exponentially distributed sojourn with the given mean.
class mmpp_arrivals final : public arrival_process {
public:
  mmpp_arrivals(std::vector<double> rates, std::vector<double> mean_sojourn_s,
                random_stream& rng);
  double next(double now, random_stream& rng) override;

private:
  std::vector<double> rates_, sojourn_;
  size_t state_ = 0;
  double state_end_ = 0;
};

/// Sinusoidal day: rate(t) = mean (1 + amplitude sin(2 pi t / period + phase)), by thinning.
class diurnal_arrivals final : public arrival_process {
public:
  diurnal_arrivals(double mean_rate, double amplitude, double period_s, double phase)
    : mean_(mean_rate), amplitude_(amplitude), period_(period_s), phase_(phase) {}
  double next(double now, random_stream& rng) override;

private:
  double mean_, amplitude_, period_, phase_;
};

/// Arrivals given as counts per interval (a trace: 1440 per-minute counts for the Azure trace,
/// or one burst per period): each interval's count is spread uniformly at random within its
/// first `spread` seconds, so the counts are reproduced exactly.
class counted_arrivals final : public arrival_process {
public:
  /// counts[i] requests in [start + i * interval, start + i * interval + spread).
  counted_arrivals(std::vector<uint32_t> counts, double interval_s, double spread_s,
                   double start_s = 0);
  double next(double now, random_stream& rng) override;

private:
  std::vector<uint32_t> counts_;
  double interval_, spread_, start_;
  size_t index_ = 0;
  std::vector<double> pending_; // this interval's times, sorted descending (pop from the back)
};

} // namespace spry::policies::lab
