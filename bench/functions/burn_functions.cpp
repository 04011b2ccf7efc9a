// Function library for the live policy benchmark (live_policy_bench): `bench.burn` burns the
// CPU time the request body names, in microseconds of the handler thread's own CPU (default
// 5000), and answers with the body.
//
// CPU time, not wall time (test.burn in the test library spins on the wall clock): an instance
// held to half a core by a cgroup then really takes twice as long per request, as on a slower
// node, and a deflated instance really serves less. Never sleeps.
#include "core/function_library.hpp"
#include "core/message.hpp"
#include "examples/synthetic/service_time.hpp"

#include <charconv>

SPRY_FUNCTION_LIBRARY(registry) {
  registry.add("bench.burn", [](spry::core::message& m) {
    const auto in = m.payload();
    uint64_t us = 5000;
    if (!in.empty()) {
      auto [end, ec] = std::from_chars(in.data(), in.data() + in.size(), us);
      if (ec != std::errc{} || end == in.data()) {
        m.fail("bench.burn: the body is the CPU time to burn, in microseconds", 400);
        return;
      }
    }
    synthetic::burn_cpu_ns(us * 1000, synthetic::digest(in));
    m.write(in);
  });
}
