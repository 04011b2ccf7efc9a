#pragma once
// Starting one process of the node: this program again (fork + exec, or a fork from the
// instance template), with a role in its environment, chosen descriptors at chosen numbers, its
// stdout and stderr into a pipe, a control socket, CPU affinity and a network namespace. What
// the process is (an instance, a transport's sidecar) and what happens to it afterwards
// (readiness, restarts, stopping) is the instance supervisor's business, not this one's.
//
// Threads: not thread-safe; the supervisor calls it under its lock (on its control or monitor
// thread). Everything the child needs is prepared before fork(): between fork and exec in a
// threaded process only async-signal-safe calls are made.

#include "core/error.hpp"
#include "core/instance_template.hpp"

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace spry::core {

/// Where a started process finds its control socket.
constexpr int child_control_fd = 3;

/// How to start a process: this program again, with the same arguments.
struct launch_program {
  std::string executable = "/proc/self/exe";
  std::vector<std::string> argv; ///< argv[0] included
  /// Optional (`instances: {start: fork}`): processes that may be forked are forked by this
  /// template instead of exec'd. If it fails (it died), the launcher logs that once and execs
  /// from then on.
  std::shared_ptr<instance_template> forker;
};

struct process_request {
  /// "VARIABLE=value": the role, added to the environment (an inherited SPRY_INSTANCE or one of
  /// the same variable is dropped).
  std::string role_env;
  /// {descriptor here, number in the process}, besides stdout/stderr and the control socket.
  /// Numbers from child_control_fd + 1 up.
  std::vector<std::pair<int, int>> fds;
  std::vector<unsigned> cpus; ///< sched affinity; empty = any
  int netns_fd = -1;          ///< the network namespace it enters before exec; -1: ours
  /// May come from the instance template (an instance: the template's body is the instance
  /// role); false for other roles (a sidecar), always exec'd.
  bool may_fork = false;
  std::string label; ///< for messages ("work#3")
};

/// A started process: the caller owns the two descriptors (non-blocking) and reaps the pid.
struct launched_process {
  pid_t pid = 0;
  int control = -1; ///< our end of its control socket (its end is child_control_fd)
  int output = -1;  ///< read end of its stdout + stderr
};

class process_launcher {
public:
  explicit process_launcher(launch_program program) : program_(std::move(program)) {}

  /// Starts the process: a child of this process, dying with it (PR_SET_PDEATHSIG). Errors
  /// name what failed (socketpair, pipe, fork, a template that took the request and did not
  /// fork). An exec that fails is the child's: it writes why to its stderr and exits 127.
  expected<launched_process> start(const process_request& r);
  /// Starts several, in the order given. Those that may fork go to the template in one batch, so
  /// their forks overlap (a chain's instances warming up together); the rest are exec'd. One
  /// result per request, as start() would give it.
  std::vector<expected<launched_process>> start(const std::vector<process_request>& rs);

  /// Whether processes that may fork are forked (the template is there and alive).
  bool forks() const noexcept { return program_.forker != nullptr; }
  /// The template (null: none, or it failed); for its spares (refill, shutdown).
  const std::shared_ptr<instance_template>& forker() const noexcept { return program_.forker; }

private:
  /// fork + exec, with the control socket and the output pipe made for it (closes them on a
  /// failed fork).
  expected<launched_process> exec_process(const process_request& r, int ctl[2], int err[2]);

  launch_program program_;
};

} // namespace spry::core
