#include "gateway/metrics.hpp"

#include "core/runtime.hpp"

#include <prometheus/text_serializer.h>

#include <map>

namespace spry::gateway {

std::string prometheus_label(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

namespace {

prometheus::Histogram::BucketBoundaries latency_buckets() {
  // 25 us .. ~13 s, x2 per bucket: covers a local hop chain and a cold start alike.
  prometheus::Histogram::BucketBoundaries b;
  for (double s = 25e-6; s < 15; s *= 2)
    b.push_back(s);
  return b;
}

} // namespace

gateway_metrics::gateway_metrics(core::runtime& rt)
  : rt_(rt),
    registry_(std::make_shared<prometheus::Registry>()),
    requests_(prometheus::BuildCounter()
                .Name("spry_requests_total")
                .Help("Requests answered by the gateway, by chain and HTTP status")
                .Register(*registry_)),
    duration_(prometheus::BuildHistogram()
                .Name("spry_request_duration_seconds")
                .Help("Time from the gateway accepting a request to its response being ready")
                .Register(*registry_)),
    cold_start_(prometheus::BuildHistogram()
                  .Name("spry_chain_cold_start_seconds")
                  .Help("Cold start a request paid: time the gateway held it waiting for an "
                        "instance of a function at zero (only requests that were held)")
                  .Register(*registry_)),
    pool_buffers_(prometheus::BuildGauge()
                    .Name("spry_pool_buffers")
                    .Help("Buffers of each chain's pool, free or in use")
                    .Register(*registry_)),
    pool_high_water_(prometheus::BuildGauge()
                       .Name("spry_pool_high_water")
                       .Help("Most buffers of the pool ever in use at once")
                       .Register(*registry_)),
    pool_failures_(prometheus::BuildGauge()
                     .Name("spry_pool_alloc_failures_total")
                     .Help("Buffer allocations refused because the pool was exhausted")
                     .Register(*registry_)),
    in_flight_(prometheus::BuildGauge()
                 .Name("spry_in_flight_requests")
                 .Help("Requests inside a chain now")
                 .Register(*registry_)
                 .Add({})),
    rejected_(prometheus::BuildCounter()
                .Name("spry_rejected_descriptors_total")
                .Help("Descriptors that failed validation at the gateway and were dropped")
                .Register(*registry_)
                .Add({{"endpoint", "gateway"}})),
    undelivered_(prometheus::BuildCounter()
                   .Name("spry_requests_undelivered_total")
                   .Help("Requests a transport brought back to the gateway before they reached "
                         "an instance (the instance was gone); sent again or held, not failed")
                   .Register(*registry_)
                   .Add({})),
    shed_(prometheus::BuildCounter()
            .Name("spry_http_connections_shed_total")
            .Help("Connections answered 503 and closed at once because the gateway ran out of "
                  "file descriptors")
            .Register(*registry_)
            .Add({})),
    instance_requests_(prometheus::BuildGauge()
                         .Name("spry_instance_requests_total")
                         .Help("Requests processed by each instance")
                         .Register(*registry_)),
    transport_(prometheus::BuildGauge()
                 .Name("spry_transport_descriptors_total")
                 .Help("Descriptors sent through the transport, accepted or rejected")
                 .Register(*registry_)),
    endpoint_messages_(prometheus::BuildGauge()
                         .Name("spry_endpoint_messages_total")
                         .Help("Descriptors delivered to each endpoint, counted by the transport "
                               "(in the kernel by eBPF on shm-skmsg)")
                         .Register(*registry_)),
    endpoint_bytes_(prometheus::BuildGauge()
                      .Name("spry_endpoint_bytes_total")
                      .Help("Bytes delivered to each endpoint, counted by the transport")
                      .Register(*registry_)),
    endpoint_bounced_(prometheus::BuildGauge()
                        .Name("spry_endpoint_bounced_total")
                        .Help("Descriptors for each endpoint that could not be delivered")
                        .Register(*registry_)),
    endpoint_queued_(prometheus::BuildGauge()
                       .Name("spry_endpoint_queued")
                       .Help("Slots of the endpoint's queue in the transport that are not free "
                             "(waiting or claimed descriptors; 0 when idle)")
                       .Register(*registry_)),
    instance_up_(prometheus::BuildGauge()
                   .Name("spry_instance_up")
                   .Help("1 while the instance process is running and ready")
                   .Register(*registry_)),
    instance_restarts_(prometheus::BuildGauge()
                         .Name("spry_instance_restarts_total")
                         .Help("Times the instance process was restarted")
                         .Register(*registry_)) {
  for (const auto& c : rt_.app().chains) {
    duration_by_chain_.push_back(&duration_.Add({{"chain", c.name}}, latency_buckets()));
    cold_start_by_chain_.push_back(&cold_start_.Add({{"chain", c.name}}, latency_buckets()));
    by_code_.push_back(std::make_unique<code_counters>());
    for (auto& slot : *by_code_.back())
      slot.store(nullptr, std::memory_order_relaxed);
  }
}

void gateway_metrics::request_done(uint16_t chain, uint16_t code, double seconds) {
  done_.fetch_add(1, std::memory_order_relaxed);
  const auto& chains = rt_.app().chains;
  if (chain >= chains.size() || code >= 600)
    return;
  auto& slot = (*by_code_[chain])[code];
  prometheus::Counter* c = slot.load(std::memory_order_acquire);
  if (!c) {
    std::lock_guard<std::mutex> guard{add_mtx_};
    c = &requests_.Add({{"chain", chains[chain].name}, {"code", std::to_string(code)}});
    slot.store(c, std::memory_order_release);
  }
  c->Increment();
  duration_by_chain_[chain]->Observe(seconds);
}

void gateway_metrics::cold_start_paid(uint16_t chain, double seconds) {
  if (chain < cold_start_by_chain_.size())
    cold_start_by_chain_[chain]->Observe(seconds);
}

void gateway_metrics::rejected_descriptor() { rejected_.Increment(); }

void gateway_metrics::request_undelivered() { undelivered_.Increment(); }
void gateway_metrics::connection_shed() { shed_.Increment(); }

std::string gateway_metrics::render(uint64_t in_flight) {
  const auto& chains = rt_.app().chains;
  for (size_t c = 0; c < chains.size(); ++c) {
    const auto s = rt_.pools()[c].stats();
    pool_buffers_.Add({{"chain", chains[c].name}, {"state", "free"}}).Set(s.free());
    pool_buffers_.Add({{"chain", chains[c].name}, {"state", "in_use"}}).Set(s.in_use);
    pool_high_water_.Add({{"chain", chains[c].name}}).Set(s.high_water);
    pool_failures_.Add({{"chain", chains[c].name}}).Set(static_cast<double>(s.alloc_failures));
  }
  for (const auto& i : rt_.instances())
    instance_requests_
      .Add({{"function", rt_.app().functions[i.function].name},
            {"instance", std::to_string(i.endpoint)}})
      .Set(static_cast<double>(i.counters->processed.load()));
  const auto ts = rt_.tp().stats();
  const std::string tname(rt_.tp().name());
  transport_.Add({{"transport", tname}, {"result", "sent"}}).Set(static_cast<double>(ts.sent));
  transport_.Add({{"transport", tname}, {"result", "rejected"}})
    .Set(static_cast<double>(ts.rejected));
  // Endpoints by number, and by what runs there, so a row joins spry_instance_*{function,instance}
  // (an instance's `instance` label is its endpoint number; the gateway is endpoint 0).
  std::map<core::endpoint_id, std::string> function_at;
  for (const auto& p : rt_.processes())
    function_at[p.endpoint] = rt_.app().functions[p.function].name;
  for (const auto& i : rt_.instances())
    function_at[i.endpoint] = rt_.app().functions[i.function].name;
  for (const auto& t : rt_.tp().traffic()) {
    const bool gw = t.endpoint == core::gateway_endpoint;
    const auto f = function_at.find(t.endpoint);
    const std::map<std::string, std::string> labels{
      {"transport", tname},
      {"endpoint", std::to_string(t.endpoint)},
      {"function", gw ? "" : f != function_at.end() ? f->second : ""},
      {"instance", gw ? "gateway" : std::to_string(t.endpoint)}};
    // An endpoint number reused by another function's instance: its old row goes, or a sum over
    // the rows would count the endpoint twice.
    std::lock_guard<std::mutex> guard{add_mtx_};
    auto& last = endpoint_labels_[t.endpoint];
    if (!last.empty() && last != labels)
      for (auto* family : {&endpoint_messages_, &endpoint_bytes_, &endpoint_bounced_, &endpoint_queued_})
        family->Remove(&family->Add(last));
    last = labels;
    endpoint_messages_.Add(labels).Set(static_cast<double>(t.messages));
    endpoint_bytes_.Add(labels).Set(static_cast<double>(t.bytes));
    endpoint_bounced_.Add(labels).Set(static_cast<double>(t.bounced));
    endpoint_queued_.Add(labels).Set(static_cast<double>(t.queued));
  }
  for (const auto& p : rt_.processes()) {
    const std::map<std::string, std::string> labels{
      {"function", rt_.app().functions[p.function].name}, {"instance", std::to_string(p.endpoint)}};
    instance_up_.Add(labels).Set(p.ready ? 1 : 0);
    instance_restarts_.Add(labels).Set(p.restarts);
  }
  in_flight_.Set(static_cast<double>(in_flight));
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

} // namespace spry::gateway
