#pragma once
// Text that came from outside (payloads, topics, reasons a function wrote, header values) as it
// may appear in a log line: well-formed UTF-8 stays as it is; a byte that is not part of one,
// and every control character, becomes \xNN. A log line is then always valid UTF-8 on one line,
// whatever a client sent, and the bytes can still be read from it. Installed on every spry
// logger by gateway::setup_logging, so no call site has to remember it.

#include <string>
#include <string_view>

namespace spry::core {

/// true when `s` needs no escaping (the common case: no copy is made then).
bool log_clean(std::string_view s) noexcept;

/// `s` with every byte that is not printable UTF-8 written as \xNN (a backslash stays itself).
std::string escape_for_log(std::string_view s);

} // namespace spry::core
