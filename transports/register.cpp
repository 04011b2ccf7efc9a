#include "transports/register.hpp"

#include "transports/local/local_transport.hpp"
#include "transports/tcp/tcp_transport.hpp"

namespace spry::transports {

void register_all(core::transport_registry& registry) {
  local::register_transport(registry);
  tcp::register_transport(registry);
  // Backend-specific registrations (tcp, shm-skmsg, shm-dpdk) are added here, each under the
  // #if of its build option, and nowhere else.
}

} // namespace spry::transports
