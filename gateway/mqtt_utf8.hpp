#pragma once
// MQTT's UTF-8 strings (OASIS MQTT 5.0, 1.5.4; 3.1.1, 1.5.3): well-formed UTF-8 as RFC 3629
// defines it (no overlong forms, no surrogates, at most U+10FFFF) and no U+0000. A receiver must
// refuse anything else; the gateway checks the strings of MQTT 5 properties, which reach
// adapters (and from there JSON encoders that refuse invalid UTF-8) as they are.

#include <string_view>

namespace spry::gateway::mqtt_wire {

inline bool mqtt_utf8_valid(std::string_view s) noexcept {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = byte(i);
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; // the allowed range of the second byte
    if (c == 0) {
      return false;
    } else if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0)
        lo = 0xa0;
      if (c == 0xed)
        hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0)
        lo = 0x90;
      if (c == 0xf4)
        hi = 0x8f;
    } else {
      return false;
    }
    if (s.size() - i <= n)
      return false;
    if (byte(i + 1) < lo || byte(i + 1) > hi)
      return false;
    for (size_t k = 2; k <= n; ++k)
      if ((byte(i + k) & 0xc0) != 0x80)
        return false;
    i += n + 1;
  }
  return true;
}

} // namespace spry::gateway::mqtt_wire
