#include "core/log_escape.hpp"

namespace spry::core {

namespace {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF); 0 when there is none or it is an ASCII control character.
size_t printable_sequence(std::string_view s, size_t i) noexcept {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80)
    return c >= 0x20 && c != 0x7F ? 1 : 0;
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF)
    return cont(1) && cont(2) && !(c == 0xE0 && b(1) < 0xA0) && !(c == 0xED && b(1) > 0x9F) ? 3 : 0;
  if (c >= 0xF0 && c <= 0xF4)
    return cont(1) && cont(2) && cont(3) && !(c == 0xF0 && b(1) < 0x90) &&
               !(c == 0xF4 && b(1) > 0x8F)
             ? 4
             : 0;
  return 0;
}

} // namespace

bool log_clean(std::string_view s) noexcept {
  for (size_t i = 0; i < s.size();) {
    const size_t n = printable_sequence(s, i);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

std::string escape_for_log(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size();) {
    const size_t n = printable_sequence(s, i);
    if (n > 0) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    const auto c = static_cast<unsigned char>(s[i++]);
    out += "\\x";
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

} // namespace spry::core
