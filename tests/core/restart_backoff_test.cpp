// When an instance that exited is started again, and when that is a crash loop
// (core/restart_backoff.hpp), driven with made-up times.
#include "core/restart_backoff.hpp"

#include <catch2/catch.hpp>

using namespace spry::core;

namespace {

constexpr uint64_t ms = 1000000;

instances_spec spec() {
  instances_spec s;
  s.restart_backoff_ms = 100;
  s.restart_backoff_max_ms = 1000;
  s.crash_loop_restarts = 5;
  s.crash_loop_window_ms = 30000;
  return s;
}

} // namespace

TEST_CASE("restart backoff: the first restart after the first delay, each next one twice as late, "
          "up to the maximum", "[core][restart_backoff]") {
  auto s = spec();
  s.crash_loop_restarts = 100; // no crash loop in this case
  restart_backoff b(s);
  uint64_t now = 1000 * ms;
  std::vector<uint64_t> delays;
  for (int i = 0; i < 6; ++i) {
    const auto d = b.on_exit(now);
    delays.push_back((d.restart_at_ns - now) / ms);
    CHECK_FALSE(d.crash_looping);
    now = d.restart_at_ns + 5 * ms; // it ran 5 ms and exited again
  }
  CHECK(delays == std::vector<uint64_t>{100, 200, 400, 800, 1000, 1000});
}

TEST_CASE("restart backoff: enough exits within the window are a crash loop, said once, restarted "
          "at the maximum delay, and one exit alone in the window starts over",
          "[core][restart_backoff]") {
  restart_backoff b(spec());
  uint64_t now = 1000 * ms;
  for (int i = 1; i <= 4; ++i) {
    const auto d = b.on_exit(now);
    CHECK_FALSE(d.crash_looping);
    CHECK(d.exits_in_window == static_cast<size_t>(i));
    now += 10 * ms;
  }
  const auto fifth = b.on_exit(now);
  CHECK(fifth.crash_looping);
  CHECK(fifth.started_looping);
  CHECK(fifth.restart_at_ns - now == 1000 * ms);
  CHECK(b.crash_looping());
  now += 10 * ms;
  const auto sixth = b.on_exit(now);
  CHECK(sixth.crash_looping);
  CHECK_FALSE(sixth.started_looping); // reported once
  CHECK(sixth.restart_at_ns - now == 1000 * ms);

  // Quiet for longer than the window: the next exit is the only one in it, back to the start.
  now += 31000 * ms;
  const auto later = b.on_exit(now);
  CHECK_FALSE(later.crash_looping);
  CHECK_FALSE(b.crash_looping());
  CHECK(later.exits_in_window == 1);
  CHECK(later.restart_at_ns - now == 100 * ms);
}
