// A function library for fault tests. It behaves like the hello functions, except that in an
// instance process (SPRY_INSTANCE set) SPRY_TEST_FAULT makes registration misbehave:
//   hang  - write a line to stderr and never become ready
//   crash - write a line to stderr and abort before becoming ready
#include "core/function_library.hpp"
#include "examples/hello/hello_functions.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

SPRY_FUNCTION_LIBRARY(registry) {
  const char* fault = std::getenv("SPRY_TEST_FAULT");
  if (std::getenv("SPRY_INSTANCE") && fault) {
    if (std::strcmp(fault, "hang") == 0) {
      std::fprintf(stderr, "fault library: hanging before ready\n");
      std::fflush(stderr);
      for (;;)
        pause(); // a deliberately wedged instance; the supervisor must time it out and kill it
    }
    if (std::strcmp(fault, "crash") == 0) {
      std::fprintf(stderr, "fault library: crashing before ready\n");
      std::fflush(stderr);
      std::abort();
    }
  }
  registry.add("fault.upper", hello::uppercase{});
  registry.add("fault.count", hello::count{});
}
