#include "core/instance_actor_system.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <chrono>

namespace spry::core {

namespace {

// The actor system's settings, the gateway's and an instance's alike (the number of scheduler
// threads aside).
void configure(caf::actor_system_config& config, unsigned workers) {
  config.set("scheduler.max-threads", static_cast<size_t>(workers));
  config.set("logger.verbosity", caf::atom("quiet"));
  // CAF 0.17's idle workers first spin briefly, then poll 500 times with 50 us sleeps, then
  // wait on a condition variable. The middle phase adds up to 50 us to every hop that finds its
  // worker there, and wakes an idle process 20000 times a second. Skipping it makes delivery
  // event-driven after the short spin: an enqueue notifies the sleeping worker directly.
  config.set("work-stealing.moderate-poll-attempts", size_t{0});
  // A sleeping worker is woken by a notify when work is enqueued for it; the timeout only
  // paces idle work-stealing attempts. CAF's 10 ms default wakes every idle process 100 times
  // a second per worker: measurable CPU across a dozen idle instances. A lone worker has no one
  // to steal from (CAF 0.17's try_steal returns at once with fewer than two workers), and its
  // wait checks its queue under the lock an enqueue notifies under (no wake-up is lost), so
  // its timeout only ever wakes it for nothing: an hour, so an idle instance (or a spare with
  // its actor system started) does not run at all.
  config.set("work-stealing.relaxed-sleep-duration",
             workers == 1 ? caf::timespan{std::chrono::hours(1)}
                          : caf::timespan{std::chrono::seconds(1)});
}

started_actor_system start(unsigned workers) {
  started_actor_system s;
  s.config = std::make_unique<caf::actor_system_config>();
  configure(*s.config, workers);
  s.system = std::make_unique<caf::actor_system>(*s.config);
  return s;
}

// What prestart_actor_system() started, until start_actor_system takes it.
started_actor_system& prestarted() {
  static started_actor_system p;
  return p;
}

} // namespace

started_actor_system start_actor_system(unsigned workers, bool instance) {
  if (auto& pre = prestarted(); instance && pre.system) {
    started_actor_system taken = std::move(pre);
    pre = {};
    if (workers == 1) // set up exactly as start(1) does
      return taken;
    // Started for a function of concurrency 1, not this one: its threads end here.
    taken.system.reset();
  }
  return start(workers);
}

void warm_up_actor_system() {
  caf::actor_system_config config;
  configure(config, 1);
  caf::actor_system system{config};
  // Its destructor stops and joins every thread it started.
}

void prestart_actor_system() {
  if (!prestarted().system)
    prestarted() = start(1);
}

} // namespace spry::core
