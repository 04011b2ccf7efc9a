#pragma once
// MQTT's UTF-8 strings (OASIS MQTT 5.0, 1.5.4; 3.1.1, 1.5.3): well-formed UTF-8 as RFC 3629
// defines it (no overlong forms, no surrogates, at most U+10FFFF) and no U+0000. A receiver must
// refuse anything else; the gateway checks the strings of MQTT 5 properties, which reach
// adapters (and from there JSON encoders that refuse invalid UTF-8) as they are.

#include "core/utf8.hpp"

#include <string_view>

namespace spry::gateway::mqtt_wire {

inline bool mqtt_utf8_valid(std::string_view s) noexcept {
  return s.find('\0') == std::string_view::npos && core::well_formed_utf8(s);
}

} // namespace spry::gateway::mqtt_wire
