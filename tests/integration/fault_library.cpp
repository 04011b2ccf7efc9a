// A function library for fault tests. It behaves like the hello functions, except that in an
// instance process (SPRY_INSTANCE set) SPRY_TEST_FAULT makes registration misbehave:
//   hang  - write a line to stderr and never become ready
//   crash - write a line to stderr and abort before becoming ready
// and SPRY_TEST_CRASH_IF_EXISTS=PATH aborts the same way while PATH exists (a function that
// served, then crash-loops on every restart until the file goes).
#include "core/function_library.hpp"
#include "examples/hello/hello_functions.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <csignal>
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
  if (const char* path = std::getenv("SPRY_TEST_CRASH_IF_EXISTS");
      std::getenv("SPRY_INSTANCE") && path && access(path, F_OK) == 0) {
    std::fprintf(stderr, "fault library: %s exists, crashing before ready\n", path);
    std::fflush(stderr);
    std::abort();
  }
  // Dies on every request, as a function that crashes does (SIGKILL: no core file).
  registry.add("test.die", [](spry::core::message&) { kill(getpid(), SIGKILL); });
  // Dies on a request whose payload is "die"; passes every other one on unchanged.
  registry.add("test.die_on", [](spry::core::message& m) {
    if (m.payload() == "die")
      kill(getpid(), SIGKILL);
  });
  registry.add("fault.upper", hello::uppercase{});
  registry.add("fault.count", hello::count{});
  // A chain step that appends which function ran at which hop: identical on every transport.
  registry.add("test.step", [](spry::core::message& m) {
    std::string out(m.payload());
    out += "|" + std::to_string(m.hop());
    m.write(out);
  });
  // Burns the CPU for the number of microseconds the payload starts with (default 1000), then
  // answers with the payload: a synthetic function with a real service time (never a sleep).
  registry.add("test.burn", [](spry::core::message& m) {
    const std::string in(m.payload());
    long us = 1000;
    try {
      us = std::stol(in);
    } catch (...) {
    }
    // SPRY_TEST_SLOW_ENDPOINT=N: the instance at endpoint N is a deliberately slow one (10x),
    // as on a slower or overloaded node.
    static const bool slow = [] {
      const char* want = std::getenv("SPRY_TEST_SLOW_ENDPOINT");
      const char* role = std::getenv("SPRY_INSTANCE");
      return want && role && std::strstr(role, ("endpoint=" + std::string(want) + ";").c_str());
    }();
    if (slow)
      us *= 10;
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
    volatile uint64_t x = 0;
    while (std::chrono::steady_clock::now() < until)
      for (int i = 0; i < 1000; ++i)
        x = x + static_cast<uint64_t>(i);
  });
  // Appends whether this hop works on the request's original buffer ("same") or on a copy.
  registry.add("test.where", [](spry::core::message& m) {
    std::string out(m.payload());
    out += m.location() == m.header().home_offset ? " same" : " copy";
    m.write(out);
  });
}
