#pragma once
// The format of every spry log line: "TIME LEVEL text", the text through core::escape_for_log, so
// payload bytes, topics and reasons that a client or a function wrote reach the log escaped
// (valid UTF-8, one line), whichever call site logs them.

#include <spdlog/formatter.h>

#include <memory>

namespace spry::gateway {

std::unique_ptr<spdlog::formatter> make_log_formatter();

} // namespace spry::gateway
