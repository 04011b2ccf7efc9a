#include "transports/local/local_transport.hpp"

#include "transports/local/hop_bench.hpp"

namespace spry::transports::local {

local_transport::local_transport(const core::transport_context& ctx)
  : capacity_(ctx.queue_capacity),
    slots_(new slot[ctx.max_endpoints]),
    slot_count_(ctx.max_endpoints) {
}

local_transport::~local_transport() { stop(); }

core::status_or_error local_transport::bind(core::endpoint_id id,
                                            std::shared_ptr<core::descriptor_sink> receiver) {
  std::lock_guard<std::mutex> guard{control_};
  if (stopped_.load())
    return core::make_error("local transport: stopped");
  if (id >= slot_count_)
    return core::make_error("local transport: endpoint " + std::to_string(id) +
                            " is out of range (max " + std::to_string(slot_count_ - 1) + ")");
  if (!receiver || !receiver->actor())
    return core::make_error("local transport: endpoint " + std::to_string(id) +
                            " bound to an invalid actor");
  if (slots_[id].receiver.load())
    return core::make_error("local transport: endpoint " + std::to_string(id) +
                            " is already bound");
  slots_[id].depth.reset();
  slots_[id].receiver.store(receiver.get(), std::memory_order_release);
  keep_alive_.push_back(std::move(receiver));
  return {};
}

void local_transport::unbind(core::endpoint_id id) noexcept {
  std::lock_guard<std::mutex> guard{control_};
  if (id < slot_count_)
    slots_[id].receiver.store(nullptr, std::memory_order_release);
}

core::send_status local_transport::send(const core::descriptor& d) noexcept {
  if (stopped_.load(std::memory_order_relaxed)) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return core::send_status::closed;
  }
  if (d.dst >= slot_count_) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return core::send_status::unknown_endpoint;
  }
  auto& s = slots_[d.dst];
  auto* receiver = s.receiver.load(std::memory_order_acquire);
  if (!receiver) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return core::send_status::unknown_endpoint;
  }
  if (!s.depth.try_add(capacity_)) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return core::send_status::backpressure;
  }
  sent_.fetch_add(1, std::memory_order_relaxed);
  if (core::inline_sink::in_handler())
    receiver->deliver(d); // runs on this thread once the sending handler has returned
  else
    receiver->post(d);
  return core::send_status::ok;
}

void local_transport::consumed(core::endpoint_id id) noexcept {
  if (id < slot_count_)
    slots_[id].depth.remove();
}

uint32_t local_transport::queue_depth(core::endpoint_id id) const noexcept {
  return id < slot_count_ ? slots_[id].depth.get() : 0;
}

core::transport_stats local_transport::stats() const noexcept {
  const auto sent = sent_.load(std::memory_order_relaxed);
  // Every accepted descriptor is in a mailbox of this process the moment send returns.
  return core::transport_stats{sent, sent, rejected_.load(std::memory_order_relaxed)};
}

void local_transport::stop() noexcept {
  std::lock_guard<std::mutex> guard{control_};
  stopped_.store(true);
  for (uint32_t i = 0; i < slot_count_; ++i)
    slots_[i].receiver.store(nullptr, std::memory_order_release);
}

void register_transport(core::transport_registry& registry) {
  core::transport_registry::entry e;
  e.name = "local";
  e.description = "in-process actors, descriptors handed over as actor messages; needs nothing";
  e.factory = [](const core::transport_context& ctx)
    -> core::expected<std::unique_ptr<core::transport>> {
    return std::unique_ptr<core::transport>(new local_transport(ctx));
  };
  e.in_process_instances = true;
  e.measure_hops = measure_hops;
  registry.add(std::move(e));
}

} // namespace spry::transports::local
