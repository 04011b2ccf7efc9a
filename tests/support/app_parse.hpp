#pragma once
// The app file parser with every section this build's transports register, as `spry check` and
// `spry run` read a file: for tests of a transport's own section.
#include "core/config.hpp"
#include "core/runtime.hpp"
#include "transports/register.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace spry::test {

inline const core::transport_registry& all_transports() {
  static const core::transport_registry r = [] {
    core::transport_registry t;
    spry::transports::register_all(t);
    return t;
  }();
  return r;
}

inline core::expected<core::app_spec> parse_app(const std::string& text) {
  return core::parse_app_yaml(text, "app.yaml", all_transports());
}

/// Parses `text` and returns the error message (the test fails if it parsed).
inline std::string parse_error_of(const std::string& text) {
  auto app = parse_app(text);
  if (!app)
    return app.err().message;
  FAIL("expected an error for:\n" << text);
  return {};
}

} // namespace spry::test
