#pragma once
// Function libraries: shared objects that a YAML app names under `libraries:`.
//
// A library defines its functions with SPRY_FUNCTION_LIBRARY:
//
//   SPRY_FUNCTION_LIBRARY(registry) {
//     registry.add("uppercase", [](spry::core::message& m) { ... });
//   }
//
// which exports two C symbols: spry_function_abi_version() and spry_register_functions(). The
// loader checks the ABI version before calling anything else, so a library built against another
// layout of message/buffer_header is refused with a clear message instead of corrupting requests.

#include "core/error.hpp"
#include "core/function.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

/// Bumped whenever message, buffer_header or function_registry change layout.
#define SPRY_FUNCTION_ABI 1u

#define SPRY_FUNCTION_LIBRARY(registry_var)                                                      \
  static void spry_register_functions_impl(::spry::core::function_registry&);                    \
  extern "C" __attribute__((visibility("default"))) uint32_t spry_function_abi_version() {        \
    return SPRY_FUNCTION_ABI;                                                                    \
  }                                                                                              \
  extern "C" __attribute__((visibility("default"))) void spry_register_functions(                \
    ::spry::core::function_registry* r) {                                                        \
    spry_register_functions_impl(*r);                                                            \
  }                                                                                              \
  static void spry_register_functions_impl(::spry::core::function_registry& registry_var)

namespace spry::core {

/// A loaded library. Functions registered from it stay valid while this object lives.
class function_library {
public:
  /// dlopen()s `path` and registers its functions into `into`. Errors name the path and the
  /// problem (not found, missing symbol, ABI mismatch, duplicate function name). A path this
  /// process already holds open (loaded before and not yet released) is not opened again: an
  /// instance forked from the template finds the libraries the gateway loaded, and dlopen()
  /// would only find the same object, after comparing the path with every loaded object's
  /// names (a tenth of a forked instance's start CPU). Thread-safe.
  static expected<std::shared_ptr<function_library>> load(const std::string& path,
                                                          function_registry& into);
  const std::string& path() const { return path_; }
  /// The handler names this library registered (a hot reload replaces libraries by them).
  const std::vector<std::string>& handlers() const { return handlers_; }

  struct loaded_object; // one dlopen() of a path, shared by every load of that path

private:
  function_library(std::string path, std::shared_ptr<loaded_object> object)
    : path_(std::move(path)), object_(std::move(object)) {}
  std::string path_;
  std::shared_ptr<loaded_object> object_;
  std::vector<std::string> handlers_;
};

} // namespace spry::core
