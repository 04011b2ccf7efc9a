// Function library for the YAML version of the hello app (hello.yaml).
#include "examples/hello/hello_functions.hpp"

#include "core/function_library.hpp"

SPRY_FUNCTION_LIBRARY(registry) {
  registry.add("hello.uppercase", hello::uppercase{});
  registry.add("hello.count", hello::count{});
}
