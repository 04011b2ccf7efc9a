#pragma once
// What the cloudevents and mqtt-json harnesses share: the adapter library's own registration
// entry point (the adapter source is compiled into the harness, so the adapter under test is the
// one the gateway dlopen()s), and one message through it as the gateway's ingress does it
// (gateway/adapter_call.hpp) followed by the reply through egress().

#include "core/adapter.hpp"
#include "gateway/adapter_call.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

extern "C" void spry_register_adapters(spry::core::adapter_registry* r);

namespace spry::fuzz {

/// The one adapter the linked library registers.
inline core::adapter& library_adapter() {
  static std::unique_ptr<core::adapter> a = [] {
    core::adapter_registry reg;
    spry_register_adapters(&reg);
    if (reg.entries().size() != 1)
      abort();
    return reg.entries().front().second();
  }();
  return *a;
}

/// Runs ingress into a buffer of `capacity` bytes with a guard zone behind it, and checks the
/// contract the gateway relies on. Returns what the chain would get ("" when refused).
inline std::string run_ingress(const core::adapter_request& in, uint32_t capacity,
                               core::adapter_ingress& out) {
  // The pool buffer: exactly `capacity` bytes on the heap, so ASan sees a write past it.
  std::vector<char> buffer(capacity ? capacity : 1);
  out.data = buffer.data();
  out.capacity = capacity;
  gateway::call_ingress(library_adapter(), in, out);
  if (!out.error.empty())
    return {};
  if (out.length > out.capacity) {
    fprintf(stderr, "invariant broken: accepted with length %u > capacity %u\n", out.length,
            out.capacity);
    abort();
  }
  return std::string(buffer.data(), out.length);
}

} // namespace spry::fuzz
