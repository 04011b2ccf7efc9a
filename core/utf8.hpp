#pragma once
// Well-formed UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates (U+D800-U+DFFF),
// nothing above U+10FFFF. The one check for every boundary that must refuse anything else:
// MQTT's UTF-8 strings (which also refuse U+0000) and CloudEvents attributes (which the JSON
// encoder must be able to write out again).

#include <cstddef>
#include <string_view>

namespace spry::core {

inline bool well_formed_utf8(std::string_view s) noexcept {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = byte(i);
    size_t n;                           // continuation bytes
    unsigned char lo = 0x80, hi = 0xbf; // the allowed range of the second byte
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0)
        lo = 0xa0; // overlong below U+0800
      if (c == 0xed)
        hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0)
        lo = 0x90; // overlong below U+10000
      if (c == 0xf4)
        hi = 0x8f; // nothing above U+10FFFF
    } else {
      return false; // a continuation byte first, C0/C1 (overlong), or F5..FF
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

} // namespace spry::core
