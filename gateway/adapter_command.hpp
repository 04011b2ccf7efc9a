#pragma once
// `spry adapter list|load|unload HOST:PORT ...`: a running gateway's protocol adapters, through
// its admin endpoint (/admin/adapters). Thin: the gateway does the work and says what went wrong.

#include <string>

namespace spry::gateway {

/// action: "list", "load" (name, library) or "unload" (name). Returns the process exit code.
int adapter_command(const std::string& action, const std::string& address, const std::string& name,
                    const std::string& library);

} // namespace spry::gateway
