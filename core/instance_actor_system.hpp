#pragma once
// The actor system a spry process runs (the gateway's and an instance's): its settings, and,
// for instances forked from the template (instance_template.hpp), the parts of starting it that
// are done before the instance exists: once in the template (warm_up_actor_system) and in each
// spare (prestart_actor_system).

#include <memory>

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

namespace spry::core {

/// A started actor system and the configuration it refers to (which must outlive it).
struct started_actor_system {
  std::unique_ptr<caf::actor_system_config> config;
  std::unique_ptr<caf::actor_system> system;
};

/// Starts an actor system with `workers` scheduler threads, set up as every spry process's. For
/// an instance (`instance`), the one prestart_actor_system() started in this process, if it has
/// as many workers (it is dropped otherwise: an instance runs one system).
started_actor_system start_actor_system(unsigned workers, bool instance);

/// Starts and stops an actor system set up as an instance's (one scheduler thread, the same
/// settings), leaving this process with the one thread it had. The instance template runs it
/// once before it forks anything (`instances: {start: fork}`): the code every forked instance
/// runs to start CAF is then bound already (the dynamic loader resolves a function on its first
/// call, in each process that did not call it before the fork) and CAF's and the allocator's
/// one-time set-up (its threads' malloc arenas) is done, once, in the template.
void warm_up_actor_system();

/// Starts the actor system of an instance with one scheduler thread (a function of
/// concurrency 1, the default) ahead of need, in a spare instance process (instance_template):
/// start_actor_system(1, true) then returns it instead of starting one (its three threads and
/// CAF's set-up were a third of a forked instance's start CPU). It depends on nothing the
/// instance is given later. Idle, it does not run: its one worker sleeps an hour between
/// wake-ups (start_actor_system's settings say why), its clock waits for no deadline, its
/// printer in its mailbox. Call it from the process's one thread, in a process that forks no
/// more and enters no other network namespace (its threads would stay in this one).
void prestart_actor_system();

} // namespace spry::core
