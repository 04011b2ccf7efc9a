#include "core/instance_actor_system.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include <catch2/catch.hpp>

#include <dirent.h>

using namespace spry::core;

namespace {

int threads() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

} // namespace

TEST_CASE("an instance takes the actor system a spare started, if it has its workers",
          "[actor_system]") {
  SECTION("one worker: the prestarted system") {
    const int before = threads();
    prestart_actor_system();
    prestart_actor_system(); // a second call keeps the first
    CHECK(threads() > before);
    auto gateway = start_actor_system(2, false);
    CHECK(gateway.system->scheduler().num_workers() == 2); // not an instance: never the spare's
    const int running = threads();
    // No thread started: the system is the one already running (had the gateway's call taken
    // it, this one would start its own threads).
    auto taken = start_actor_system(1, true);
    REQUIRE(taken.system);
    CHECK(threads() <= running);
    CHECK(taken.system->scheduler().num_workers() == 1);
    // Taken once: the next instance start makes its own.
    auto next = start_actor_system(1, true);
    CHECK(next.system.get() != taken.system.get());
  }
  SECTION("more workers: the prestarted one is dropped, a fitting one started") {
    prestart_actor_system();
    auto taken = start_actor_system(3, true);
    CHECK(taken.system->scheduler().num_workers() == 3);
  }
}
