#pragma once
// The instance role: what a process started by the instance supervisor runs instead of the
// gateway. It hosts one instance of one function as a CAF actor, on the app's transport, and
// follows the node agent's control channel (peers, directory, stop). When the channel closes
// (the gateway died) it exits; PR_SET_PDEATHSIG covers the case where it is blocked elsewhere.

#include "core/app_spec.hpp"
#include "core/function.hpp"
#include "core/instance_supervisor.hpp"
#include "core/runtime.hpp"

namespace spry::core {

/// Runs until told to stop; returns the process exit code. Errors are printed to stderr, which
/// the supervisor forwards and quotes if the instance never becomes ready.
int run_instance(app_spec app, function_registry functions, const instance_role& role,
                 const runtime_options& opts);

} // namespace spry::core
