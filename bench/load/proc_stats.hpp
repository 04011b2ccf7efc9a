#pragma once
// What /proc says about the processes of a benchmark: who they are (gateway, which function
// instance, which sidecar, nginx), their CPU time, context switches and read/write system calls.
// Everything a benchmark reports about CPU comes from here, never from a model.
//
// A process's role is read from its environment (/proc/PID/environ): the instance supervisor
// starts instances with SPRY_INSTANCE=...;function=NAME;endpoint=N and sidecars with
// SPRY_SIDECAR=...;name=LABEL, so roles are known without asking the gateway. Threads whose name
// contains "poll" (polling transports) are reported as pollers of their process.
//
// Limits: a process or thread that exits between two samples takes its counts with it (an
// instance restarted mid-run under-counts); /proc/PID/io counts only the read- and write-family
// system calls (perf counts them all: see the audit).

#include <string>
#include <sys/types.h>
#include <vector>

namespace spry::bench {

/// One line of /proc/PID/stat.
struct proc_row {
  pid_t pid = 0;
  pid_t ppid = 0;
  char state = '?';
  double cpu_seconds = 0; ///< user + system
};

/// Every process in /proc.
std::vector<proc_row> all_processes();

/// `root` and all its live descendants (root first).
std::vector<pid_t> process_tree(pid_t root);

struct process_sample {
  pid_t pid = 0;
  std::string role;       ///< gateway, instance, sidecar, nginx, other
  std::string label;      ///< "gateway", "currency#3", "queue-proxy currency#3", "nginx", or comm
  std::string function;   ///< instances and sidecars: the function they serve
  double cpu_seconds = 0; ///< whole process, threads that exited included
  double poller_cpu_seconds = 0; ///< part of cpu_seconds spent in threads named *poll*
  uint64_t voluntary_switches = 0;   ///< summed over the live threads
  uint64_t involuntary_switches = 0;
  uint64_t read_syscalls = 0;  ///< /proc/PID/io syscr (read family)
  uint64_t write_syscalls = 0; ///< /proc/PID/io syscw (write family)
};

/// Samples every process of the tree under `root` (root is the gateway). Processes that vanish
/// while being read are left out.
std::vector<process_sample> sample_tree(pid_t root);

/// Per-process differences `later - earlier` (matched by pid; processes only in `later` count
/// from zero, processes only in `earlier` are dropped).
std::vector<process_sample> difference(const std::vector<process_sample>& later,
                                       const std::vector<process_sample>& earlier);

} // namespace spry::bench
