#include "transports/shm-dpdk/poller_idle.hpp"

#include <spdlog/spdlog.h>

#include <cstring>

namespace spry::transports::dpdk {

idle_mode idle_mode_of(const std::string& name) {
  // The section's check has refused anything else already (idle_problem).
  return name == "spin" ? idle_mode::spin : name == "yield" ? idle_mode::yield : idle_mode::adaptive;
}

void poller_idle::missed_wake() noexcept {
  home_.missed_wakes.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("shm-dpdk: a poller slept through a descriptor until its safety timeout (a sender "
               "died between its enqueue and its wake-up, or a bug)");
}

void poller_idle::cannot_sleep(int error) noexcept {
  // Keep serving, the way "yield" does.
  spdlog::error("shm-dpdk: a poller cannot sleep on its doorbell ({}); it polls and yields "
                "instead (dpdk.idle: yield)", std::strerror(error));
  mode_ = idle_mode::yield;
}

} // namespace spry::transports::dpdk
