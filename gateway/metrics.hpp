#pragma once
// The gateway's metrics, exposed on /metrics in the Prometheus text format (prometheus-cpp).
// Names and labels are stable: tests and dashboards depend on them.
//
//   spry_requests_total{chain,code}                 counter
//   spry_request_duration_seconds{chain}            histogram (gateway in -> response ready)
//   spry_chain_cold_start_seconds{chain}            histogram: time a request was held waiting
//                                                   for an instance (only requests that were)
//   spry_pool_buffers{chain,state="free"|"in_use"}  gauge, read at scrape time
//   spry_pool_high_water{chain}                     gauge
//   spry_pool_alloc_failures_total{chain}           counter
//   spry_in_flight_requests                         gauge
//   spry_rejected_descriptors_total{endpoint}       counter (failed validation)
//   spry_requests_undelivered_total                 counter: requests a transport brought back
//                                                   before they reached an instance (sent again
//                                                   or held, see gateway/undelivered.cpp)
//   spry_instance_requests_total{function,instance} counter
//   spry_transport_descriptors_total{transport,result="sent"|"rejected"}
//   spry_endpoint_messages_total{transport,endpoint,function,instance}   counted by the transport
//                                                      (eBPF on shm-skmsg); function "" and
//                                                      instance "gateway" for endpoint 0, "" for
//                                                      an endpoint no instance holds now
//   spry_endpoint_bytes_total{transport,endpoint,function,instance}
//   spry_endpoint_bounced_total{transport,endpoint,function,instance}    could not be delivered
//   spry_endpoint_queued{transport,endpoint,function,instance}   slots of its ring not free (shm-dpdk)
//   spry_instance_up{function,instance}                1 while the instance process is ready
//   spry_instance_restarts_total{function,instance}

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <map>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace spry::core {
class runtime;
}

namespace spry::gateway {

/// `s` as a Prometheus label value (backslash, quote and newline escaped).
std::string prometheus_label(const std::string& s);

class gateway_metrics {
public:
  explicit gateway_metrics(core::runtime& rt);

  /// Thread-safe; called once per answered request.
  void request_done(uint16_t chain, uint16_t code, double seconds);
  /// Thread-safe; a request of `chain` that was held `seconds` waiting for an instance.
  void cold_start_paid(uint16_t chain, double seconds);
  void rejected_descriptor();
  /// Thread-safe; a request came back undelivered (buffer_status::undelivered).
  void request_undelivered();
  /// Requests answered so far, every chain and code (cluster reports).
  uint64_t requests_done() const noexcept { return done_.load(std::memory_order_relaxed); }
  /// A connection accepted and closed at once with 503 because the process ran out of file
  /// descriptors (see http_server::shed_one).
  void connection_shed();
  /// Refreshes the scrape-time gauges and renders everything.
  std::string render(uint64_t in_flight);

private:
  std::atomic<uint64_t> done_{0};
  core::runtime& rt_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Histogram>& cold_start_;
  prometheus::Family<prometheus::Gauge>& pool_buffers_;
  prometheus::Family<prometheus::Gauge>& pool_high_water_;
  prometheus::Family<prometheus::Gauge>& pool_failures_;
  prometheus::Gauge& in_flight_;
  prometheus::Counter& rejected_;
  prometheus::Counter& undelivered_;
  prometheus::Counter& shed_;
  prometheus::Family<prometheus::Gauge>& instance_requests_;
  prometheus::Family<prometheus::Gauge>& transport_;
  prometheus::Family<prometheus::Gauge>& endpoint_messages_;
  prometheus::Family<prometheus::Gauge>& endpoint_bytes_;
  prometheus::Family<prometheus::Gauge>& endpoint_bounced_;
  prometheus::Family<prometheus::Gauge>& endpoint_queued_;
  prometheus::Family<prometheus::Gauge>& instance_up_;
  prometheus::Family<prometheus::Gauge>& instance_restarts_;
  std::map<uint32_t, std::map<std::string, std::string>> endpoint_labels_; // under add_mtx_
  std::vector<prometheus::Histogram*> duration_by_chain_;
  std::vector<prometheus::Histogram*> cold_start_by_chain_;
  // Counter per (chain, status code), created on first use: Family::Add hashes a label map under
  // a mutex, too slow to do per request.
  using code_counters = std::array<std::atomic<prometheus::Counter*>, 600>;
  std::vector<std::unique_ptr<code_counters>> by_code_;
  std::mutex add_mtx_;
};

} // namespace spry::gateway
