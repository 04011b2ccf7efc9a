#pragma once
// The one place that knows every transport compiled into this build.

#include "core/transport_registry.hpp"

namespace spry::transports {

/// Registers every transport of this build (local always; others when their dependencies were
/// found at configure time).
void register_all(core::transport_registry& registry);

} // namespace spry::transports
