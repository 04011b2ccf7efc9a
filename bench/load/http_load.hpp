#pragma once
// HTTP load on keep-alive connections, on the calling thread (one Asio io_context), in one of
// three shapes:
//
//   closed  Locust-style virtual users: each user sends a request, waits for the answer, thinks
//           (uniform in [think_min, think_max]), repeats. Users start at `spawn_rate` per second.
//           Latency is measured from the send.
//   open    requests are due at a constant `rate`, whatever the answers do; a due request takes
//           an idle connection, opens one (up to `connections`), or waits for one. Latency is
//           measured from when the request was due, so a slow server is not hidden by the
//           generator waiting for it (no coordinated omission).
//   bursts  `burst_size` requests due at once every `period` (the parking workload), otherwise
//           as open.
//
// Each request is drawn from a weighted mix (`requests`); latencies are recorded per request
// kind and overall in latency_histograms (HdrHistogram-style: no C HdrHistogram is packaged for
// Debian, core/latency_histogram.hpp is the same idea in 30 KiB). Throughput is recorded over
// time in bins. The generator reports the CPU time of its own thread, so a reader can tell when
// the generator, not the server, was the bottleneck.
//
// Bounded: nothing new is sent after warm-up + duration or after max_requests; requests still
// in flight then get `drain` to finish before their connections are closed.

#include "core/error.hpp"
#include "core/latency_histogram.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace spry::bench {

/// One kind of request in a mix.
struct request_spec {
  std::string name = "request"; ///< label in reports (a chain, a Locust task)
  std::string method = "POST";
  std::string path = "/";
  std::string body;
  /// > 0: bodies of this many bytes, different from one request to the next (images, say);
  /// `body` is then ignored.
  uint32_t body_size = 0;
  std::string content_type = "text/plain";
  double weight = 1;
};

enum class load_mode { closed, open, bursts };

/// Called on the load thread about once per second.
struct load_progress {
  double elapsed_s = 0;   ///< since the start, warm-up included
  double total_s = 0;     ///< warm-up + duration
  bool warming_up = false;
  uint64_t ok = 0;        ///< measured 2xx answers so far
  uint64_t errors = 0;    ///< measured non-2xx answers and connection errors so far
  double recent_rps = 0;  ///< 2xx answers per second over the last interval
};

struct load_options {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  /// The single request sent when `requests` is empty.
  std::string method = "POST";
  std::string path = "/";
  std::string body;
  std::string content_type = "text/plain";
  /// A weighted mix; empty: the single request above.
  std::vector<request_spec> requests;

  load_mode mode = load_mode::closed;
  /// closed: virtual users; open and bursts: the most connections opened.
  unsigned connections = 8;
  double spawn_rate = 0; ///< closed: users started per second; 0 = all at once
  std::chrono::milliseconds think_min{0}, think_max{0};
  double rate = 0;                    ///< open: requests per second
  std::chrono::milliseconds period{0}; ///< bursts: one burst per period, the first at once
  unsigned burst_size = 0;

  std::chrono::milliseconds duration{5000};
  std::chrono::milliseconds warmup{500}; ///< run but not recorded
  uint64_t max_requests = 0;             ///< 0 = no limit (warm-up requests count)
  std::chrono::milliseconds drain{30000};
  std::chrono::milliseconds bin{1000}; ///< width of the throughput-over-time bins
  uint64_t seed = 1;
  std::function<void(const load_progress&)> on_progress;
  /// Called on the load thread when the measured window starts (the warm-up is over), so a
  /// caller can sample what it measures (CPU) over exactly that window.
  std::function<void()> on_measure_start;
};

/// What one kind of request got.
struct request_result {
  std::string name;
  core::latency_histogram latency_ns; ///< 2xx only
  std::map<unsigned, uint64_t> by_status;
  uint64_t transport_errors = 0;
  uint64_t ok() const;
};

struct load_result {
  core::latency_histogram latency_ns; ///< successful (2xx) requests only
  std::map<unsigned, uint64_t> by_status;
  uint64_t transport_errors = 0; ///< connect/read/write failures
  uint64_t unsent = 0; ///< open/bursts: due in the window, never sent (no free connection by the drain deadline)
  double seconds = 0;            ///< measured interval (after warm-up)
  std::vector<request_result> by_request; ///< one per request kind, in the order given
  std::vector<uint64_t> ok_per_bin;       ///< 2xx answers per `bin_seconds`, from the warm-up's end
  std::vector<uint64_t> errors_per_bin;
  double bin_seconds = 1;
  double generator_cpu_seconds = 0; ///< CPU of the load thread over the whole run
  double generator_wall_seconds = 0;
  uint64_t ok() const;
  uint64_t errors() const; ///< non-2xx answers + connection errors + unsent
  double requests_per_second() const { return seconds > 0 ? ok() / seconds : 0; }
  /// One line: "N req in S s = R req/s; p50 X us p90 .. p99 .. max ..; status counts".
  std::string summary() const;
};

/// Runs the load on the calling thread. Errors only for setup problems (bad address, empty mix,
/// a shape without its parameters).
core::expected<load_result> run_load(const load_options& opts);

} // namespace spry::bench
