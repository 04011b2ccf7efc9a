#pragma once
// The two functions of the hello chain. Header-only so the function library (for YAML apps) and
// the C++ program share them.

#include "core/message.hpp"

#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>

namespace hello {

/// Upper-cases the payload in place: no copy, no allocation.
struct uppercase {
  void operator()(spry::core::message& m) const {
    char* p = m.data();
    const auto n = m.payload().size();
    for (size_t i = 0; i < n; ++i)
      p[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(p[i])));
  }
};

/// Length of the well-formed UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms,
/// no surrogates, nothing above U+10FFFF), 0 when it is not one.
inline size_t utf8_sequence(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto cont = [&](size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2) || (c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F))
      return 0;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3) || (c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) > 0x8F))
      return 0;
    return 4;
  }
  return 0;
}

/// `in` as the inside of a JSON string. Well-formed UTF-8 is copied as is; a byte that is not
/// part of one (the body is whatever the client sent) becomes \u00XX, its value read as
/// Latin-1: the answer is always valid JSON, and the byte can still be recovered from it.
inline void append_json_text(std::string& out, std::string_view in) {
  for (size_t i = 0; i < in.size();) {
    const auto c = static_cast<unsigned char>(in[i]);
    const size_t n = utf8_sequence(in.substr(i));
    if (n > 1) {
      out.append(in.substr(i, n));
      i += n;
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || n == 0) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
}

/// Counts words and bytes and answers with a small JSON document around the text.
struct count {
  void operator()(spry::core::message& m) const {
    const auto in = m.payload();
    if (in.empty()) {
      m.fail("send some text in the request body", 400);
      return;
    }
    size_t words = 0;
    bool in_word = false;
    for (unsigned char c : in) {
      const bool space = std::isspace(c) != 0;
      words += (!space && !in_word) ? 1 : 0;
      in_word = !space;
    }
    std::string out = "{\"text\":\"";
    append_json_text(out, in);
    out += "\",\"words\":" + std::to_string(words) + ",\"bytes\":" + std::to_string(in.size()) + "}";
    m.write(out);
    m.set_content_type("application/json");
  }
};

} // namespace hello
