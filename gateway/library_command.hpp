#pragma once
// `spry library reload HOST:PORT PATH`: hot reload of a running gateway's function library,
// through its admin endpoint (POST /admin/libraries). Thin: the gateway does the work (see
// control_plane::reload_library) and says what went wrong.

#include <string>

namespace spry::gateway {

/// action: "reload" (library). Returns the process exit code.
int library_command(const std::string& action, const std::string& address,
                    const std::string& library);

} // namespace spry::gateway
