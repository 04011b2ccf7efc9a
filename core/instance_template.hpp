#pragma once
// A pre-forked, initialised template process that forks instance processes on request
// (`instances: {start: fork}`), so an instance starts without exec: no dynamic linking of the
// whole binary, no static initialisers, no parsing of the app file, no dlopen of the function
// libraries. All of that was done once, by the gateway, before it forked the template. What a
// new instance still does itself is what must come after a fork: start CAF, its transport and
// its control channel.
//
// Threads. fork() copies only the calling thread: a lock another thread held (CAF's scheduler,
// spdlog's async pool, asio, malloc's arenas) stays held forever in the child. So the template
// is forked from the gateway while the gateway still has exactly one thread (start() checks
// /proc/self/task and refuses otherwise), the template never keeps a thread (its preparation
// joins what it starts), and each instance or spare starts its threads after its own fork (a
// spare forks nothing).
//
// Supervision. The supervisor stays the parent of every instance, as with exec: waitpid gives
// the exit status (and so the exit reason), SIGKILL by pid cannot hit a reused pid, nothing else
// changes. The gateway makes itself a child subreaper (PR_SET_CHILD_SUBREAPER) and the template
// double-forks: the intermediate process exits at once, the kernel reparents the instance to the
// gateway, and only then is its pid handed over. Rejected: a pidfd tells a non-parent that a
// process exited but not how (no exit status), and the template reporting exits would put a
// second process between the supervisor and every kill -9. The price of being a subreaper: an
// orphan of any other descendant is reparented to the gateway too; the supervisor reaps only its
// own pids, so such an orphan stays a zombie until the gateway exits (nothing the gateway starts
// today leaves orphans).
//
// What differs from exec, by design: /proc/PID/environ of a forked instance is the gateway's
// (SPRY_INSTANCE is set with setenv after the fork, so getenv sees it, the kernel's copy does
// not); a function library runs its load-time code once, in the gateway, not in each instance
// (except a library a hot reload brought in after the template was forked: an instance forked
// later opens it itself, since the template, forked before any thread, cannot be made again).
//
// Spares (`instances.spare`). Starting an instance from the template still costs two forks (two
// copies of the template's page tables) and the intermediate's exit before the instance runs
// anything; a chain warming up from zero pays that four times on a two-core machine. So the
// template also forks, ahead of need, a bounded number of spares: processes that went through
// both forks and the reparenting, and wait (blocked in recvmsg on their own socket: no CPU) for
// an instance's request, which the gateway then sends to a spare instead of the template. A
// spare that receives one becomes that instance exactly as a freshly forked one would (same
// code from there on); it never was any function before. Before it waits, a spare does what
// does not depend on which instance it becomes: it maps in the code an instance runs and copies
// the pages it would write (page_prefault.hpp), and runs `spare_prepare` (the gateway starts
// the instance's actor system there: runtime.hpp, prestart_actor_system; and its transport's
// prepare_spare: parked threads, spare_thread.hpp, and a socket made ahead); the threads these
// start sleep without a timeout, so a waiting spare still uses no CPU. The set is
// refilled by refill_spares(), which the supervisor calls off the start path (when no instance
// is starting); a spare that dies while waiting is reaped and replaced there, and is never an
// instance to the supervisor (no exit reason, no restart, no crash loop). Spares are children of
// the gateway (so they die with it, PR_SET_PDEATHSIG) and are named "spry-spare".

#include "core/error.hpp"

#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace spry::core {

/// Descriptors a spare opens ahead (spare_prepare, a transport's prepare_spare) must be numbered
/// at least this (fcntl F_DUPFD_CLOEXEC): becoming an instance places the descriptors it is given
/// at fixed low numbers with dup2, which would silently replace one of the spare's there.
constexpr int spare_fd_floor = 128;

/// What an instance gets at its start: the same as an exec'd one.
struct fork_request {
  std::string role_env; ///< "SPRY_INSTANCE=...": set in the instance's environment
  /// {fd here, number in the instance}; an fd may appear twice (stdout and stderr).
  std::vector<std::pair<int, int>> fds;
  std::vector<unsigned> cpus; ///< sched affinity; empty = any
  int netns_fd = -1;          ///< network namespace to enter; -1: the template's (the gateway's)
};

class instance_template {
public:
  /// Forks the template. Call it while this process has one thread (the error says if not) and
  /// from the thread that lives as long as the process (the template's PR_SET_PDEATHSIG is tied
  /// to it). `body` runs in every forked instance once its descriptors, affinity, namespace and
  /// environment are in place; its result is the instance's exit code. Makes this process a
  /// child subreaper. `spares`: how many spares refill_spares() keeps (0: none). `prepare`, if
  /// set, runs once in the template before it serves any request: work every instance would
  /// otherwise repeat after its fork (it may start threads if it joins them all again; a
  /// template left with more than one thread exits, and the launcher execs from then on).
  /// `spare_prepare`, if set, runs in each spare once it is the gateway's child, before it
  /// waits: work that does not depend on which instance it becomes (it may start threads: a
  /// spare forks no more; they must not run while idle, since spares wait for as long as
  /// nothing starts; descriptors it keeps open must be numbered from spare_fd_floor up).
  static expected<std::unique_ptr<instance_template>> start(std::function<int()> body,
                                                            size_t spares = 0,
                                                            std::function<void()> prepare = {},
                                                            std::function<void()> spare_prepare = {});

  /// Ends and reaps the spares, closes the template's socket (it exits on EOF) and reaps it.
  ~instance_template();
  instance_template(const instance_template&) = delete;
  instance_template& operator=(const instance_template&) = delete;

  /// Forks one instance and returns its pid: a child of this process by then. Thread-safe
  /// (batches are serialised); blocks for the fork, about a millisecond. On an error `*sent`
  /// says whether the request reached the template: if not (the template is gone), nothing holds
  /// the descriptors and the caller may exec with them at once; if it did (no answer, or no
  /// fork), an instance may exist with them, so the caller must not reuse them.
  expected<pid_t> fork_instance(const fork_request& r, bool* sent);

  /// Forks one instance per request, concurrently: a waiting spare takes a request first (the
  /// oldest spare, no fork at all), the rest go to the template, every one sent before any
  /// answer is awaited, and the template forks each as it reads it, not waiting for the one before (a
  /// chain's instances warming up from zero start together). Results and `*sent` (as for
  /// fork_instance) are in the order of `rs`. Thread-safe; blocks until every answer is in
  /// (5 s at most, then the template is killed).
  std::vector<expected<pid_t>> fork_instances(const std::vector<fork_request>& rs,
                                              std::vector<bool>* sent);

  pid_t pid() const noexcept { return pid_; }

  // -- spares ----------------------------------------------------------------------------------

  /// Reaps the spares that died while waiting, then forks one more if fewer than asked wait.
  /// False if the template could not fork one (it is gone; the caller stops asking). Blocks for
  /// one template round, about a millisecond; thread-safe (serialised with fork_instances).
  bool refill_spares();
  /// Fewer spares wait than asked, and the template is still there to fork more.
  bool spares_missing();
  /// Spares waiting now.
  size_t spare_count();
  /// Ends every spare (EOF on its socket, SIGKILL if it does not go) and reaps it; keeps none
  /// from now on. Called on shutdown; the destructor calls it too.
  void drop_spares();

private:
  struct spare {
    pid_t pid;  // a child of this process
    int socket; // our end of its socket
  };
  instance_template(pid_t pid, int socket, size_t spares)
    : pid_(pid), socket_(socket), spare_target_(spares) {}
  /// Sends `r` to the oldest waiting spare and returns its pid (now the instance's); a spare
  /// found dead is reaped and the next tried; 0 if none took it.
  pid_t give_to_spare_locked(const fork_request& r);
  void reap_spares_locked();

  pid_t pid_;
  int socket_;
  std::mutex mtx_;             // one batch at a time on the socket; guards everything below
  uint32_t next_seq_ = 1;
  bool gone_ = false;          // the template failed a request: not asked again
  size_t spare_target_;
  std::vector<spare> spares_;  // oldest first
};

} // namespace spry::core
