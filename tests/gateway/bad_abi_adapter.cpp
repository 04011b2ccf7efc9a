// An adapter library built for another adapter ABI: the gateway must refuse it by its version
// before calling anything else in it.
#include "core/adapter.hpp"

extern "C" __attribute__((visibility("default"))) uint32_t spry_adapter_abi_version() {
  return SPRY_ADAPTER_ABI + 41;
}
extern "C" __attribute__((visibility("default"))) void spry_register_adapters(
  spry::core::adapter_registry*) {
  __builtin_trap(); // never called: the ABI check comes first
}
