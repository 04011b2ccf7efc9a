#include "core/function_library.hpp"

#include <dlfcn.h>

namespace spry::core {

expected<std::shared_ptr<function_library>> function_library::load(const std::string& path,
                                                                     function_registry& into) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* why = dlerror();
    return make_error("cannot load function library '" + path + "': " + (why ? why : "unknown"));
  }
  auto lib = std::shared_ptr<function_library>(new function_library(path, h));
  using abi_fn = uint32_t (*)();
  using reg_fn = void (*)(function_registry*);
  auto abi = reinterpret_cast<abi_fn>(dlsym(h, "spry_function_abi_version"));
  auto reg = reinterpret_cast<reg_fn>(dlsym(h, "spry_register_functions"));
  if (!abi || !reg)
    return make_error("'" + path +
                      "' is not a spry function library: it does not export "
                      "spry_function_abi_version and spry_register_functions "
                      "(define its functions inside SPRY_FUNCTION_LIBRARY)");
  if (abi() != SPRY_FUNCTION_ABI)
    return make_error("function library '" + path + "' was built for function ABI " +
                      std::to_string(abi()) + ", this spry has ABI " +
                      std::to_string(SPRY_FUNCTION_ABI) + ": rebuild it against this spry");
  // Register into a scratch registry first so a duplicate name leaves `into` untouched.
  function_registry scratch;
  reg(&scratch);
  for (const auto& name : scratch.names())
    if (into.find(name))
      return make_error("function library '" + path + "' defines '" + name +
                        "', which is already defined by another library or the program");
  lib->handlers_ = scratch.names();
  for (const auto& name : scratch.names()) {
    const function_body* body = scratch.find(name);
    // Keep the library loaded as long as any of its functions may run.
    into.add(name, [lib, fn = *body](message& m) { fn(m); });
  }
  return lib;
}

function_library::~function_library() {
  if (handle_)
    dlclose(handle_);
}

} // namespace spry::core
