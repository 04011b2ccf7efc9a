// A function library for fault tests. It behaves like the hello functions, except that in an
// instance process (SPRY_INSTANCE set) SPRY_TEST_FAULT makes registration misbehave:
//   hang  - write a line to stderr and never become ready
//   crash - write a line to stderr and abort before becoming ready
#include "core/function_library.hpp"
#include "examples/hello/hello_functions.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
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
  // A chain step that appends which function ran at which hop: identical on every transport.
  registry.add("test.step", [](spry::core::message& m) {
    std::string out(m.payload());
    out += "|" + std::to_string(m.hop());
    m.write(out);
  });
  // Appends whether this hop works on the request's original buffer ("same") or on a copy.
  registry.add("test.where", [](spry::core::message& m) {
    std::string out(m.payload());
    out += m.location() == m.header().home_offset ? " same" : " copy";
    m.write(out);
  });
}
