// Starting an instance process: fork + exec of this program in the instance role, or a fork
// from the instance template (core/instance_template.hpp). Part of instance_supervisor.
#include "core/clock.hpp"
#include "core/instance_child.hpp"
#include "core/instance_supervisor.hpp"
#include "core/role_env.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace spry::core {

status_or_error instance_supervisor::spawn_process(proc& p, const std::string& role_env,
                                                   int pass_fd, const std::string& label,
                                                   int pools_of,
                                                   const std::vector<unsigned>& cpus,
                                                   int netns_fd) {
  int ctl[2], err[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0)
    return make_error(std::string("socketpair: ") + strerror(errno));
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(ctl[0]);
    close(ctl[1]);
    return make_error(std::string("pipe: ") + strerror(errno));
  }
  // Everything the child needs is prepared before fork: after fork in a threaded process only
  // async-signal-safe calls are allowed until exec.
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "SPRY_INSTANCE=", 14) != 0 && std::strncmp(*e, "SPRY_SIDECAR=", 13) != 0)
      env_store.emplace_back(*e);
  env_store.push_back(role_env);
  std::vector<char*> envp;
  for (auto& e : env_store)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_store = launch_.argv;
  std::vector<char*> argv;
  for (auto& a : argv_store)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  cpu_set_t affinity;
  CPU_ZERO(&affinity);
  for (unsigned cpu : cpus)
    if (cpu < CPU_SETSIZE)
      CPU_SET(cpu, &affinity);
  const bool pin = !cpus.empty();
  const int board = pools_of >= 0 ? board_fd_ : -1;
  std::vector<int> pools; // -1: a chain the function is not part of, not passed
  if (pools_of >= 0)
    for (size_t i = 0; i < pool_fds_.size(); ++i)
      pools.push_back(in_chain(static_cast<function_id>(pools_of), i) ? pool_fds_[i] : -1);

  if (pools_of >= 0 && launch_.forker) {
    fork_request r;
    r.role_env = role_env;
    r.fds = {{err[1], STDERR_FILENO}, {err[1], STDOUT_FILENO}, {ctl[1], child_control_fd}};
    if (pass_fd >= 0)
      r.fds.emplace_back(pass_fd, child_listen_fd);
    if (board >= 0)
      r.fds.emplace_back(board, child_board_fd);
    for (size_t i = 0; i < pools.size() && i < 64; ++i)
      if (pools[i] >= 0)
        r.fds.emplace_back(pools[i], child_first_pool_fd + static_cast<int>(i));
    r.cpus = cpus;
    r.netns_fd = netns_fd;
    bool reuse = false;
    if (fork_from_template(p, r, label, ctl[1], ctl[0], err[1], err[0], &reuse))
      return {};
    if (!reuse) { // the caller restarts it later, by exec
      for (int fd : {ctl[0], ctl[1], err[0], err[1]})
        close(fd);
      return make_error("the instance template took the request but did not fork");
    }
  }

  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    close(ctl[0]);
    close(ctl[1]);
    close(err[0]);
    close(err[1]);
    return make_error(std::string("fork: ") + strerror(e));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(111);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr); // the gateway blocks SIGINT/SIGTERM for sigwait
    // Move every fd we pass out of the way first: a source may sit on a target number (a pool
    // fd that happens to be 3 would be overwritten by the control socket otherwise).
    // The lowest number above every target: F_DUPFD takes the lowest free one from there, so
    // this works under any descriptor limit that leaves room for what the instance gets.
    const size_t npools = pools.size() < 64 ? pools.size() : 64;
    const int floor = child_first_pool_fd + static_cast<int>(npools);
    bool lifted = true;
    auto lift = [&](int fd) {
      if (fd < 0)
        return -1;
      const int to = fcntl(fd, F_DUPFD, floor);
      lifted = lifted && to >= 0;
      return to;
    };
    const int err_w = lift(err[1]), ctl_w = lift(ctl[1]), listen_w = lift(pass_fd),
              board_w = lift(board);
    int pool_w[64];
    for (size_t i = 0; i < npools; ++i)
      pool_w[i] = lift(pools[i]);
    if (!lifted) {
      // Nothing is redirected yet: this goes to the gateway's own stderr.
      const char msg[] = "spry: cannot pass file descriptors to an instance: the process is at "
                         "its descriptor limit (raise `ulimit -n`)\n";
      (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
      _exit(126);
    }
    if (pin) // the node placement chose; before exec, so every thread of the instance inherits it
      sched_setaffinity(0, sizeof affinity, &affinity);
    // Into the instance's pod before exec: every socket it opens (its connections to peers)
    // is then in that namespace. setns is a plain syscall, fine between fork and exec.
    if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) {
      const char msg[] = "spry: cannot enter the instance's network namespace\n";
      (void)!write(err_w, msg, sizeof msg - 1);
      _exit(126);
    }
    dup2(err_w, STDERR_FILENO);
    dup2(err_w, STDOUT_FILENO); // a function's prints are forwarded with the instance's name
    dup2(ctl_w, child_control_fd);
    if (listen_w >= 0)
      dup2(listen_w, child_listen_fd);
    if (board_w >= 0)
      dup2(board_w, child_board_fd);
    for (size_t i = 0; i < npools; ++i) // the shared pools, mapped again by the instance
      if (pool_w[i] >= 0)
        dup2(pool_w[i], child_first_pool_fd + static_cast<int>(i));
    execve(launch_.executable.c_str(), argv.data(), envp.data());
    const char msg[] = "spry: exec of the instance program failed\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(127);
  }
  close(ctl[1]);
  close(err[1]);
  set_nonblocking(ctl[0]);
  set_nonblocking(err[0]);
  p.pid = pid;
  p.control = ctl[0];
  p.err = err[0];
  p.reader = control_reader{};
  spdlog::debug("{} started as pid {}", label, pid);
  return {};
}

bool instance_supervisor::fork_from_template(proc& p, const fork_request& r,
                                             const std::string& label, int ctl_w, int ctl_r,
                                             int err_w, int err_r, bool* reuse) {
  bool sent = false;
  auto pid = launch_.forker->fork_instance(r, &sent);
  *reuse = !sent;
  if (!pid) {
    // Once: from now on every instance is exec'd, as without a template. spawn_process runs on
    // the control or the monitor thread, one at a time (mtx_ is held), so the reset is safe.
    spdlog::warn("{}: {}; starting instances with exec from now on", label, pid.err().message);
    launch_.forker.reset();
    return false;
  }
  close(ctl_w);
  close(err_w);
  set_nonblocking(ctl_r);
  set_nonblocking(err_r);
  p.pid = *pid;
  p.control = ctl_r;
  p.err = err_r;
  p.reader = control_reader{};
  spdlog::debug("{} forked from the instance template as pid {}", label, *pid);
  return true;
}

status_or_error instance_supervisor::spawn(child& c) {
  // The cold start counts from here: a template's fork happens inside spawn_process, an exec'd
  // child's loading after it; both are in the figure.
  const uint64_t spawned_ns = now_ns();
  const std::string label = label_of(c);
  const int instance_fd = sidecars_ ? c.private_fd : c.listen_fd;
  const std::string role = "SPRY_INSTANCE=endpoint=" + std::to_string(c.endpoint) +
                           ";function=" + app_.functions[c.function].name +
                           ";control_fd=" + std::to_string(child_control_fd) +
                           ";listen_fd=" + std::to_string(instance_fd >= 0 ? child_listen_fd : -1) +
                           ";parent=" + std::to_string(getpid()) +
                           ";gateway=" + gateway_address_ +
                           (board_fd_ >= 0 ? ";board=" + std::to_string(child_board_fd) : "") +
                           ";pools=" + [&] {
                             // Only the pools of chains this function is part of (-1: not
                             // passed, not mapped): chains are isolated from each other.
                             std::string list;
                             for (size_t i = 0; i < pool_fds_.size(); ++i)
                               list += (i ? "," : "") +
                                       (in_chain(c.function, i)
                                          ? std::to_string(child_first_pool_fd + i)
                                          : std::string("-1"));
                             return list;
                           }() +
                           (transport_parameters_.empty() ? std::string()
                                                          : ";transport=" + transport_parameters_) +
                           // The node's current function libraries (a hot reload changes them):
                           // a forked instance loads them too, finding the ones the template
                           // preloaded already mapped and opening a reloaded one itself.
                           (hooks_.libraries ? ";libraries=" + role_list(hooks_.libraries())
                                             : std::string());
  if (auto ok = spawn_process(c.main, role, instance_fd, label, c.function, c.cpus,
                              netns_of(c.endpoint));
      !ok)
    return ok;
  if (sidecars_) {
    const std::string side_role =
      "SPRY_SIDECAR=control_fd=" + std::to_string(child_control_fd) +
      ";listen_fd=" + std::to_string(child_listen_fd) +
      ";upstream_port=" + std::to_string(c.private_port) +
      ";concurrency=" + std::to_string(app_.functions[c.function].concurrency) +
      ";parent=" + std::to_string(getpid()) + ";name=" + label;
    if (auto ok = spawn_process(c.side, side_role, c.listen_fd, label + "/queue-proxy", -1, c.cpus,
                                  netns_of(c.endpoint));
        !ok) {
      kill(c.main.pid, SIGKILL);
      waitpid(c.main.pid, nullptr, 0);
      close(c.main.control);
      close(c.main.err);
      c.main = proc{};
      return ok;
    }
  }
  c.running = true;
  c.ready = false;
  c.started_ns = spawned_ns;
  c.exit_reason.clear();
  c.ready_deadline_ns = now_ns() + uint64_t{app_.instances.ready_timeout_ms} * 1000000;
  return {};
}

} // namespace spry::core
