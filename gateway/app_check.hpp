#pragma once
// The one check of an app before it serves, shared by `spry check` and `spry run` (and a C++
// app's spry::gateway::run), so that check accepts nothing that run then refuses: the file's
// names and routes, the policies, the transport and what the app asks of it, every library and
// adapter loaded, a handler for every function. Runs in the gateway process only, before any
// thread starts; instance processes skip it (their gateway checked the same app).

#include "core/app_spec.hpp"
#include "core/error.hpp"
#include "core/function.hpp"

#include <string>


namespace spry::gateway {

/// The app is valid when this returns; the findings are routes that let requests fail at run
/// time (core::check_routes). `functions`: those a C++ app defined in code (the app's libraries
/// are loaded on top of a copy of them).
core::expected<core::route_findings> check_app(const core::app_spec& app,
                                               const core::function_registry& functions);

/// The transport settings in effect, as app file sections (`spry check --dump`): every section
/// the app has, and those of the app's own transport that it leaves out, with their defaults
/// (marked so). Empty when there are none.
std::string dump_transport_settings(const core::app_spec& app);

} // namespace spry::gateway
