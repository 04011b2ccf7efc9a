#pragma once
// `spry status HOST:PORT`: asks a running gateway for GET /status and prints functions,
// instances, nodes and policies as a table (or the raw JSON with --json).

#include <string>

namespace spry::gateway {

/// Returns the process exit code (0 ok, 1 the gateway did not answer, 2 bad address).
int status_command(const std::string& address, bool json);

} // namespace spry::gateway
