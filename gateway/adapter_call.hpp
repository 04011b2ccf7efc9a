#pragma once
// Calling an adapter's ingress() the way every ingress does (HTTP sessions, the MQTT client
// thread): an exception that escapes a broken adapter becomes a rejection with its text, and an
// adapter that claims to have written past the pool buffer is refused, so the gateway never
// hands a chain a length larger than its buffer. The adapter fuzzers call this same function.

#include "core/adapter.hpp"

#include <exception>
#include <string>

namespace spry::gateway {

/// Runs `a.ingress(in, out)`; afterwards `out.error` is non-empty exactly when the message is
/// refused, and otherwise `out.length <= out.capacity`.
inline void call_ingress(core::adapter& a, const core::adapter_request& in,
                         core::adapter_ingress& out) noexcept {
  try {
    a.ingress(in, out);
  } catch (const std::exception& e) { // the contract says noexcept; a broken adapter may not
    out.error = std::string("adapter failed: ") + e.what();
  } catch (...) {
    out.error = "adapter failed with a non-std exception";
  }
  if (out.error.empty() && out.length > out.capacity)
    out.error = "adapter wrote past the buffer";
}

} // namespace spry::gateway
