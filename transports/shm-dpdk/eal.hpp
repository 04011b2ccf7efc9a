#pragma once
// The DPDK Environment Abstraction Layer of this process: initialised once, shared by every
// shm-dpdk transport the process creates, left when the process exits.
//
// Why process-wide: DPDK 22.11 refuses a second rte_eal_init() in a process, even after
// rte_eal_cleanup(). A process that runs two apps one after the other (tests, benchmarks, an
// embedding program) therefore keeps one EAL and gives each transport its own rings, named by a
// generation number; a transport frees its rings when it is destroyed.
//
// At exit (std::atexit) the primary removes the hugepage files (<hugetlbfs>/<prefix>map_*) and
// the runtime directory (/var/run/dpdk/<prefix>/) that the EAL leaves behind, and a secondary
// its own files in that directory, so the next run finds the machine as it was. Neither calls
// rte_eal_cleanup(): it write-locks the EAL's memory hotplug lock, a reader-writer lock in the
// memory every process of the prefix shares, and a secondary SIGKILLed inside its
// rte_eal_init() (which read-locks it from its memory set-up to its heap set-up) leaves a reader
// there forever - DPDK does not recover locks from dead processes. rte_eal_cleanup() then spins
// for ever: the gateway never exits, and an instance asked to stop is SIGKILLed as a waiting
// writer, which blocks every later secondary's rte_eal_init(). Exit unmaps the memory anyway.
//
// A primary that was SIGKILLed cannot clean up. The next primary removes what such runs left
// (prefixes this code generates, "spry-<app>-<pid>", whose process is gone and whose config
// lock is free), so killed runs do not eat the hugepage budget one after another.
//
// Roles: the gateway process is the primary (it reserves the hugepage memory), instance
// processes attach as secondaries with the primary's file prefix. One process is one or the
// other for its whole life.
//
// Threads: acquire() may be called from any thread, not concurrently with itself; the EAL's
// affinity change of the calling thread is undone (pollers pin themselves, see poller_cpus()).

#include "core/error.hpp"

#include <sched.h>

#include <cstdint>
#include <optional>
#include <string>

namespace spry::transports::dpdk {

struct eal_options {
  bool primary = true;
  /// EAL --file-prefix: names the hugepage files and the runtime directory. Empty (primary
  /// only): the running EAL's, or default_file_prefix(app_name) for a new one.
  std::string file_prefix;
  std::string app_name = "app";
  /// CPU list for the main lcore ("0-1"); empty: every CPU this process may use.
  std::string lcores;
  /// Primary: hugepage memory to reserve (EAL -m), in MiB.
  uint64_t memory_mb = 64;
};

class eal {
public:
  /// The process's EAL: initialised with `o` on the first call; later calls must ask for the same
  /// role and prefix (or leave the prefix empty) and get the running one. Every failure says
  /// what is missing and how to fix it (hugepages, permissions, a busy prefix, no primary).
  static core::expected<eal*> acquire(const eal_options& o);

  bool primary() const noexcept { return opts_.primary; }
  const std::string& file_prefix() const noexcept { return opts_.file_prefix; }
  /// Primary: the hugepage memory reserved at init, MiB.
  uint64_t memory_mb() const noexcept { return opts_.memory_mb; }
  /// CPUs the pollers should be pinned to, when dpdk.lcores asked for some.
  const std::optional<cpu_set_t>& poller_cpus() const noexcept { return cpus_; }

  /// Primary: removes the runtime files a secondary that died left behind (its copies of the
  /// memory maps, ~1.6 MB, and its IPC socket). A secondary removes its own at exit.
  void forget_secondary(pid_t pid) const;

  /// What this process does at exit (registered with std::atexit by acquire()): removes the
  /// files described above, and never takes a lock another process may have left held. Only
  /// in the process that initialised the EAL: a forked child (tests fork one to play a process
  /// that dies) leaves the files of its parent alone.
  static void at_exit() noexcept;

  /// What this machine lacks for a primary EAL with `memory_mb` (no hugetlbfs, too few free
  /// 2 MB pages, no write access), or empty. Used before init and by tests to skip.
  static std::string missing_requirement(uint64_t memory_mb);
  /// The directory the EAL keeps its runtime files in, for `file_prefix`.
  static std::string runtime_dir(const std::string& file_prefix);

private:
  explicit eal(eal_options o) : opts_(std::move(o)) {}
  /// Removes the runtime files of secondary `pid` (its own, or a dead one's).
  void remove_secondary_files(pid_t pid) const;

  eal_options opts_;
  pid_t pid_ = 0; // the process that initialised it
  std::optional<cpu_set_t> cpus_;
};

/// The default file prefix of a primary: "spry-<app>-<pid>" (app reduced to [A-Za-z0-9_]).
std::string default_file_prefix(const std::string& app_name);

/// Removes hugepage files and runtime directories of earlier primaries with a generated prefix
/// that died without cleaning up. Returns how many runs it cleaned.
unsigned sweep_dead_runs();

} // namespace spry::transports::dpdk
