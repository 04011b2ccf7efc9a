#pragma once
// The `dpdk:` section of the app file: shm-dpdk's own settings, parsed, checked and read here
// only (core keeps them as an opaque transport_config). Built whether or not this build has
// shm-dpdk (no DPDK header is needed), so an app file written for shm-dpdk checks everywhere and
// only `transport: shm-dpdk` itself is refused where it is missing.
//
//   dpdk: { lcores: 0-1, ring_size: 2048, memory: 64MiB, file_prefix: myapp,
//           idle: adaptive, spin_us: 200 }          # all optional
//
// In C++: `dpdk::dpdk_config d; d.idle = "spin"; app.configure(d);`.

#include "core/app_spec.hpp"
#include "core/config_section.hpp"
#include "core/transport_config.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace spry::transports::dpdk {

/// transport: shm-dpdk — descriptors on DPDK rte_rings between busy-polling processes.
struct dpdk_config final : core::transport_config {
  static constexpr const char* key = "dpdk";

  /// CPUs the pollers may run on, as a list such as "1", "0-1" or "0,2-3" (the EAL's main lcore
  /// is bound to this set in every process). Empty: every CPU the process may use, unpinned.
  std::string lcores;
  /// Descriptors per endpoint ring (a power of two). 0: the smallest power of two above the
  /// app's pool buffers, so no ring can fill up while a buffer is free.
  uint32_t ring_size = 0;
  /// Hugepage memory the gateway process reserves for the EAL (rings and their bookkeeping;
  /// payloads stay in the chains' pools). EAL `-m`.
  uint64_t memory = 64ull << 20;
  /// EAL --file-prefix, shared by the gateway and its instances. Empty: "spry-<app>-<pid>",
  /// unique per run, so apps on one machine never collide.
  std::string file_prefix;
  /// What a poller does when its rings are empty: "adaptive" (polls like "yield" while
  /// descriptors keep arriving, then sleeps in the kernel once its rings have been empty for
  /// `spin_us`; a sender wakes it: no CPU when idle, a wake-up on the first hop after a pause),
  /// "spin" (rte_pause, lowest hop latency, keeps its core) or "yield" (sched_yield between
  /// polls: still a core's worth of CPU when idle, but a thread with work on the same core runs
  /// at once; for machines with fewer cores than pollers).
  std::string idle = "adaptive";
  /// adaptive only: how long a poller keeps polling empty rings before it sleeps, in
  /// microseconds. Longer than the gaps between descriptors under load (so a busy poller never
  /// pays a wake-up), short enough that a quiet one stops burning its core soon.
  uint32_t spin_us = 200;

  std::string section() const override { return key; }
  std::unique_ptr<core::transport_config> clone() const override;
  std::string dump() const override;
};

/// The app's dpdk settings, or the defaults when it has no `dpdk:` section.
const dpdk_config& dpdk_config_of(const core::app_spec& app);

/// What is wrong with one dpdk setting, as "dpdk.KEY: ..."; empty when it is fine. Shared by the
/// parser (which points at the key) and the section's check (which also sees apps built in C++).
std::string lcores_problem(const std::string& lcores);
std::string ring_size_problem(uint64_t ring_size);
std::string memory_problem(uint64_t bytes);
std::string file_prefix_problem(const std::string& prefix);
std::string idle_problem(const std::string& idle);
std::string spin_us_problem(uint64_t spin_us);
inline constexpr uint64_t max_spin_us = 1'000'000;

/// Every setting of `c` checked, with the section's file:line; fine otherwise.
core::status_or_error check_dpdk_config(const dpdk_config& c);

/// The `dpdk:` section for the transport registry: parser and check.
core::config_section dpdk_config_section();

} // namespace spry::transports::dpdk
