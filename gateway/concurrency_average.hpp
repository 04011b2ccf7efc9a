#pragma once
// Time-averaged concurrency of one function between two scaling decisions, from samples of its
// requests in flight (what the endpoint board shows, plus requests the gateway holds).
//
// Knative's KPA scales on concurrency averaged over time (each queue-proxy reports its
// time-weighted average every second), not on the count at the instant of a decision: a burst
// that came and went between two decisions still counts, and one request that happens to be in
// flight at the decision does not look like a steady load. The board counts arrivals and
// completions but not their times, so the control thread samples it (every
// `control_plane::concurrency_sample_ms`, and on every tick) and integrates the samples with the
// trapezoidal rule. Pure: the caller passes the time. One thread (the control thread).

#include <algorithm>
#include <cstdint>

namespace spry::gateway {

class concurrency_average {
public:
  /// `value` requests in flight at `now_ns`.
  void sample(uint64_t now_ns, double value) noexcept {
    if (since_ns_ == 0) { // first sample: the average starts here
      since_ns_ = last_ns_ = now_ns;
      last_ = value;
      return;
    }
    if (now_ns > last_ns_)
      integral_ += (last_ + value) / 2 * static_cast<double>(now_ns - last_ns_) / 1e9;
    last_ns_ = std::max(last_ns_, now_ns);
    last_ = value;
  }

  /// The time-averaged concurrency since the previous take() (or the first sample), sampled
  /// once more at `now_ns` with `value`; starts the next average. Without elapsed time: `value`.
  double take(uint64_t now_ns, double value) noexcept {
    sample(now_ns, value);
    const double span = static_cast<double>(last_ns_ - since_ns_) / 1e9;
    const double avg = span > 0 ? integral_ / span : value;
    integral_ = 0;
    since_ns_ = last_ns_;
    return avg;
  }

private:
  uint64_t since_ns_ = 0, last_ns_ = 0;
  double last_ = 0;
  double integral_ = 0;
};

} // namespace spry::gateway
