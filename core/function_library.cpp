#include "core/function_library.hpp"

#include <dlfcn.h>

#include <map>
#include <mutex>

namespace spry::core {

// Closed with its last holder, as each function_library's own dlopen() reference was: what
// dlopen() counts per handle, the shared_ptr counts here.
struct function_library::loaded_object {
  void* handle;
  explicit loaded_object(void* h) : handle(h) {}
  ~loaded_object() { dlclose(handle); }
  loaded_object(const loaded_object&) = delete;
  loaded_object& operator=(const loaded_object&) = delete;
};

namespace {

// The paths this process holds open, by the exact string it opened them with (another spelling
// of the same file goes to dlopen(), which finds the object itself).
std::mutex open_mtx;
std::map<std::string, std::weak_ptr<function_library::loaded_object>> open_paths;

expected<std::shared_ptr<function_library::loaded_object>> open_object(const std::string& path) {
  std::lock_guard<std::mutex> guard{open_mtx};
  auto& known = open_paths[path];
  if (auto held = known.lock())
    return held;
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    open_paths.erase(path);
    const char* why = dlerror();
    return make_error("cannot load function library '" + path + "': " + (why ? why : "unknown"));
  }
  auto object = std::make_shared<function_library::loaded_object>(h);
  known = object;
  return object;
}

} // namespace

expected<std::shared_ptr<function_library>> function_library::load(const std::string& path,
                                                                     function_registry& into) {
  auto object = open_object(path);
  if (!object)
    return object.err();
  void* h = (*object)->handle;
  auto lib = std::shared_ptr<function_library>(new function_library(path, std::move(*object)));
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

} // namespace spry::core
