#pragma once
// transport "local": every endpoint is an actor in this process and a descriptor is handed over
// as an actor message. No copy, no syscall: the floor of what a hop can cost, and the default
// where nothing faster is available (tests, laptops, no root).

#include "core/queue_depth.hpp"
#include "core/transport.hpp"
#include "core/transport_registry.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace spry::transports::local {

class local_transport final : public core::transport {
public:
  explicit local_transport(const core::transport_context& ctx);
  ~local_transport() override;

  std::string_view name() const noexcept override { return "local"; }
  core::status_or_error bind(core::endpoint_id id, caf::actor receiver) override;
  void unbind(core::endpoint_id id) noexcept override;
  core::send_status send(const core::descriptor& d) noexcept override;
  void consumed(core::endpoint_id id) noexcept override;
  uint32_t queue_depth(core::endpoint_id id) const noexcept override;
  core::transport_stats stats() const noexcept override;
  void stop() noexcept override;

private:
  struct alignas(64) slot {
    // Raw pointer for the lock-free send path; the strong reference lives in keep_alive_ until
    // the transport dies, so a sender racing with unbind never touches a destroyed actor.
    std::atomic<caf::abstract_actor*> receiver{nullptr};
    core::queue_depth depth;
  };

  uint32_t capacity_;
  std::unique_ptr<slot[]> slots_;
  uint32_t slot_count_;
  std::atomic<bool> stopped_{false};
  std::mutex control_;
  std::vector<caf::actor> keep_alive_;
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> rejected_{0};
};

/// Registers "local" in `registry`.
void register_transport(core::transport_registry& registry);

} // namespace spry::transports::local
