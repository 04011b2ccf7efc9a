#pragma once
// transport "local": every endpoint is in this process. No copy, no syscall: the floor of what a
// hop can cost, and the default where nothing faster is available (tests, laptops, no root).
//
// There is no receive thread: a send from inside an endpoint's handler (an instance forwarding
// to the next function, the last one answering the gateway) is delivered on the sending thread,
// after that handler returns (descriptor_sink's trampoline), so a chain runs to completion on the
// CAF worker that took its first descriptor. A send from any other thread (the gateway's HTTP
// I/O thread, a control thread) goes through the receiver's mailbox: those threads must not run
// user functions on their event loops or under their locks.

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
  using core::transport::bind;
  core::status_or_error bind(core::endpoint_id id,
                             std::shared_ptr<core::descriptor_sink> receiver) override;
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
    std::atomic<core::descriptor_sink*> receiver{nullptr};
    core::queue_depth depth;
  };

  uint32_t capacity_;
  std::unique_ptr<slot[]> slots_;
  uint32_t slot_count_;
  std::atomic<bool> stopped_{false};
  std::mutex control_;
  std::vector<std::shared_ptr<core::descriptor_sink>> keep_alive_;
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> rejected_{0};
};

/// Registers "local" in `registry`.
void register_transport(core::transport_registry& registry);

} // namespace spry::transports::local
