#pragma once
// The two functions of the hello chain. Header-only so the function library (for YAML apps) and
// the C++ program share them.

#include "core/message.hpp"

#include <cctype>
#include <cstdio>
#include <string>

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
    for (unsigned char c : in) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\u%04x", c);
        out += esc;
      } else {
        out += static_cast<char>(c);
      }
    }
    out += "\",\"words\":" + std::to_string(words) + ",\"bytes\":" + std::to_string(in.size()) + "}";
    m.write(out);
    m.set_content_type("application/json");
  }
};

} // namespace hello
