// A test function library built several times with different tags (SPRY_TAG), to hot reload one
// build over another under traffic and see which generation answered each request:
//   tag.work    burns the CPU for about 200 us (a real service time, never a sleep), then
//               appends "|work-TAG"
//   tag.finish  appends "|finish-TAG"; absent from the SPRY_TAG_PARTIAL build, which a reload
//               must refuse for an app that uses it
#include "core/function_library.hpp"

#include <chrono>
#include <cstdint>
#include <string>

SPRY_FUNCTION_LIBRARY(registry) {
  registry.add("tag.work", [](spry::core::message& m) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    volatile uint64_t x = 0;
    while (std::chrono::steady_clock::now() < until)
      for (int i = 0; i < 1000; ++i)
        x = x + static_cast<uint64_t>(i);
    std::string out(m.payload());
    out += "|work-" SPRY_TAG;
    m.write(out);
  });
#ifndef SPRY_TAG_PARTIAL
  registry.add("tag.finish", [](spry::core::message& m) {
    std::string out(m.payload());
    out += "|finish-" SPRY_TAG;
    m.write(out);
  });
#endif
}
