#include "core/process_launcher.hpp"

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

namespace {

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

} // namespace

expected<launched_process> process_launcher::start(const process_request& r) {
  int ctl[2], err[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0)
    return make_error(std::string("socketpair: ") + strerror(errno));
  if (pipe2(err, O_CLOEXEC) != 0) {
    const int e = errno;
    close(ctl[0]);
    close(ctl[1]);
    return make_error(std::string("pipe: ") + strerror(e));
  }
  launched_process out;
  if (r.may_fork && program_.forker) {
    bool reuse = false;
    if (fork_from_template(out, r, ctl[1], ctl[0], err[1], err[0], &reuse))
      return out;
    if (!reuse) { // the caller starts it again later, by exec
      for (int fd : {ctl[0], ctl[1], err[0], err[1]})
        close(fd);
      return make_error("the instance template took the request but did not fork");
    }
  }

  // Everything the child needs is prepared before fork: after fork in a threaded process only
  // async-signal-safe calls are allowed until exec.
  const std::string role_var = r.role_env.substr(0, r.role_env.find('=') + 1);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "SPRY_INSTANCE=", 14) != 0 &&
        (role_var.empty() || std::strncmp(*e, role_var.c_str(), role_var.size()) != 0))
      env_store.emplace_back(*e);
  env_store.push_back(r.role_env);
  std::vector<char*> envp;
  for (auto& e : env_store)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_store = program_.argv;
  std::vector<char*> argv;
  for (auto& a : argv_store)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  cpu_set_t affinity;
  CPU_ZERO(&affinity);
  for (unsigned cpu : r.cpus)
    if (cpu < CPU_SETSIZE)
      CPU_SET(cpu, &affinity);
  const bool pin = !r.cpus.empty();
  // Every descriptor the child gets, with its number there: stdout/stderr, control, the rest.
  std::vector<std::pair<int, int>> place{{err[1], STDERR_FILENO}, {err[1], STDOUT_FILENO},
                                         {ctl[1], child_control_fd}};
  place.insert(place.end(), r.fds.begin(), r.fds.end());
  // The lowest number above every target: F_DUPFD takes the lowest free one from there, so
  // this works under any descriptor limit that leaves room for what the process gets.
  int floor = child_control_fd + 1;
  for (const auto& [fd, to] : place)
    floor = std::max(floor, to + 1);
  std::vector<int> lifted(place.size(), -1); // allocated before fork
  const char* executable = program_.executable.c_str();

  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    for (int fd : {ctl[0], ctl[1], err[0], err[1]})
      close(fd);
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
    for (size_t i = 0; i < place.size(); ++i) {
      if (place[i].first < 0)
        continue;
      lifted[i] = fcntl(place[i].first, F_DUPFD, floor);
      if (lifted[i] < 0) {
        // Nothing is redirected yet: this goes to the gateway's own stderr.
        const char msg[] = "spry: cannot pass file descriptors to an instance: the process is at "
                           "its descriptor limit (raise `ulimit -n`)\n";
        (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
        _exit(126);
      }
    }
    if (pin) // the node placement chose; before exec, so every thread inherits it
      sched_setaffinity(0, sizeof affinity, &affinity);
    // Into the instance's pod before exec: every socket it opens (its connections to peers)
    // is then in that namespace. setns is a plain syscall, fine between fork and exec.
    if (r.netns_fd >= 0 && setns(r.netns_fd, CLONE_NEWNET) != 0) {
      const char msg[] = "spry: cannot enter the instance's network namespace\n";
      (void)!write(lifted[0], msg, sizeof msg - 1);
      _exit(126);
    }
    for (size_t i = 0; i < place.size(); ++i)
      if (lifted[i] >= 0)
        dup2(lifted[i], place[i].second);
    execve(executable, argv.data(), envp.data());
    const char msg[] = "spry: exec of the instance program failed\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(127);
  }
  close(ctl[1]);
  close(err[1]);
  set_nonblocking(ctl[0]);
  set_nonblocking(err[0]);
  out.pid = pid;
  out.control = ctl[0];
  out.output = err[0];
  spdlog::debug("{} started as pid {}", r.label, pid);
  return out;
}

bool process_launcher::fork_from_template(launched_process& out, const process_request& r,
                                          int ctl_w, int ctl_r, int err_w, int err_r,
                                          bool* reuse) {
  fork_request f;
  f.role_env = r.role_env;
  f.fds = {{err_w, STDERR_FILENO}, {err_w, STDOUT_FILENO}, {ctl_w, child_control_fd}};
  f.fds.insert(f.fds.end(), r.fds.begin(), r.fds.end());
  f.cpus = r.cpus;
  f.netns_fd = r.netns_fd;
  bool sent = false;
  auto pid = program_.forker->fork_instance(f, &sent);
  *reuse = !sent;
  if (!pid) {
    // Once: from now on every process is exec'd, as without a template.
    spdlog::warn("{}: {}; starting instances with exec from now on", r.label, pid.err().message);
    program_.forker.reset();
    return false;
  }
  close(ctl_w);
  close(err_w);
  set_nonblocking(ctl_r);
  set_nonblocking(err_r);
  out.pid = *pid;
  out.control = ctl_r;
  out.output = err_r;
  spdlog::debug("{} forked from the instance template as pid {}", r.label, *pid);
  return true;
}

} // namespace spry::core
