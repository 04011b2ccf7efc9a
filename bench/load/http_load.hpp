#pragma once
// Closed-loop HTTP load: each of `connections` virtual users sends a request on its keep-alive
// connection, waits for the answer, records the latency, and repeats, until the duration or the
// request budget runs out. Latencies go into a latency_histogram per run.

#include "core/error.hpp"
#include "core/latency_histogram.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace spry::bench {

struct load_options {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string method = "POST";
  std::string path = "/";
  std::string body;
  std::string content_type = "text/plain";
  unsigned connections = 8;
  std::chrono::milliseconds duration{5000};
  std::chrono::milliseconds warmup{500}; ///< run but not recorded
  uint64_t max_requests = 0;             ///< 0 = no limit
};

struct load_result {
  core::latency_histogram latency_ns; ///< successful (2xx) requests only
  std::map<unsigned, uint64_t> by_status;
  uint64_t transport_errors = 0; ///< connect/read/write failures
  double seconds = 0;            ///< measured interval (after warm-up)
  uint64_t ok() const;
  double requests_per_second() const { return seconds > 0 ? ok() / seconds : 0; }
  /// One line: "N req in S s = R req/s; p50 X us p90 .. p99 .. max ..; status counts".
  std::string summary() const;
};

/// Runs the load on the calling thread. Errors only for setup problems (bad address).
core::expected<load_result> run_load(const load_options& opts);

} // namespace spry::bench
