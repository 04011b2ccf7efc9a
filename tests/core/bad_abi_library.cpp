// A library that claims another function ABI: the loader must refuse it.
#include "core/function.hpp"

#include <cstdint>

extern "C" __attribute__((visibility("default"))) uint32_t spry_function_abi_version() {
  return 999;
}
extern "C" __attribute__((visibility("default"))) void
spry_register_functions(spry::core::function_registry* r) {
  r->add("should.never.register", [](spry::core::message&) {});
}
