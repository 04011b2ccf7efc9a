#pragma once
// Polls a condition until it holds or a bound passes: the one wait every test uses for what
// another thread or process does "soon". The bound is for a failing test, never a timing the test
// asserts.
#include <chrono>
#include <thread>

namespace spry::test {

/// Calls `pred` every `every` until it returns true or `within` has passed; its last value.
template <class F>
bool eventually(F&& pred, std::chrono::milliseconds within = std::chrono::seconds(10),
                std::chrono::milliseconds every = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return pred();
    std::this_thread::sleep_for(every);
  }
  return true;
}

} // namespace spry::test
