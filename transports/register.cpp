#include "transports/register.hpp"

#include "transports/local/local_transport.hpp"
#include "transports/shm-dpdk/dpdk_config.hpp"
#include "transports/tcp/tcp_transport.hpp"
#if SPRY_HAVE_BPF
#include "transports/shm-skmsg/skmsg_transport.hpp"
#endif
#if SPRY_HAVE_DPDK
#include "transports/shm-dpdk/dpdk_transport.hpp"
#endif

namespace spry::transports {

void register_all(core::transport_registry& registry) {
  local::register_transport(registry);
  tcp::register_transport(registry);
  // shm-dpdk's app file section is known in every build, so an app written for it checks here
  // and only `transport: shm-dpdk` is refused where the transport is missing.
  registry.add_section(dpdk::dpdk_config_section());
  // Backend-specific registrations live here, each under the #if of its build option, and
  // nowhere else.
#if SPRY_HAVE_BPF
  skmsg::register_transport(registry);
#endif
#if SPRY_HAVE_DPDK
  dpdk::register_transport(registry);
#endif
}

} // namespace spry::transports
