#pragma once
// How a shm-dpdk transport is put together: dpdk_setup.cpp acquires what it runs on (the EAL as
// primary or secondary, the endpoint rings and table, the node's eventfd) and hands it to the
// transport object (dpdk_transport.cpp), which only moves descriptors. Private to this folder.

#include "core/transport.hpp"
#include "core/transport_registry.hpp"
#include "transports/shm-dpdk/dpdk_config.hpp"
#include "transports/shm-dpdk/endpoint_rings.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace spry::transports::dpdk {

class eal;

/// The transport's settings, resolved: the app's dpdk: block (defaults without an app) and the
/// ring size it implies.
struct dpdk_settings {
  dpdk_config spec;
  std::string app_name = "app";
  uint32_t ring_size = 1024;
};

/// The transport object over what setup acquired. `bell_fd`: the node's eventfd (the node's
/// transport closes it), an instance's inherited copy, or -1.
std::unique_ptr<core::transport> make_dpdk_transport(const core::transport_context& ctx,
                                                     const dpdk_settings& s, eal* e,
                                                     uint64_t generation, endpoint_rings rings,
                                                     int bell_fd);

} // namespace spry::transports::dpdk
