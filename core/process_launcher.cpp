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

// Every descriptor a new instance gets, with its number there, forked or exec'd alike:
// stdout/stderr into the output pipe, the control socket, then what the request passes.
std::vector<std::pair<int, int>> child_fds(const process_request& r, const int ctl[2],
                                           const int err[2]) {
  std::vector<std::pair<int, int>> place{{err[1], STDERR_FILENO}, {err[1], STDOUT_FILENO},
                                         {ctl[1], child_control_fd}};
  place.insert(place.end(), r.fds.begin(), r.fds.end());
  return place;
}

// The gateway's side once process `pid` holds the child ends: those close here, and the control
// socket and output pipe are read without blocking.
launched_process parent_side(pid_t pid, const int ctl[2], const int err[2]) {
  close(ctl[1]);
  close(err[1]);
  set_nonblocking(ctl[0]);
  set_nonblocking(err[0]);
  return launched_process{pid, ctl[0], err[0]};
}

} // namespace

expected<launched_process> process_launcher::start(const process_request& r) {
  return std::move(start(std::vector<process_request>{r}).front());
}

std::vector<expected<launched_process>>
process_launcher::start(const std::vector<process_request>& rs) {
  std::vector<expected<launched_process>> out;
  struct pipes {
    int ctl[2] = {-1, -1};
    int err[2] = {-1, -1};
  };
  std::vector<pipes> p(rs.size());
  for (size_t k = 0; k < rs.size(); ++k) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p[k].ctl) != 0) {
      out.emplace_back(make_error(std::string("socketpair: ") + strerror(errno)));
      continue;
    }
    if (pipe2(p[k].err, O_CLOEXEC) != 0) {
      const int e = errno;
      close(p[k].ctl[0]);
      close(p[k].ctl[1]);
      p[k].ctl[0] = p[k].ctl[1] = -1;
      out.emplace_back(make_error(std::string("pipe: ") + strerror(e)));
      continue;
    }
    out.emplace_back(launched_process{});
  }
  // The template's share in one batch: their forks overlap (instance_template::fork_instances).
  std::vector<size_t> batch;
  for (size_t k = 0; k < rs.size(); ++k)
    if (out[k] && rs[k].may_fork && program_.forker)
      batch.push_back(k);
  std::vector<bool> exec(rs.size(), true);
  if (!batch.empty()) {
    std::vector<fork_request> fr;
    for (size_t k : batch) {
      fork_request f;
      f.role_env = rs[k].role_env;
      f.fds = child_fds(rs[k], p[k].ctl, p[k].err);
      f.cpus = rs[k].cpus;
      f.netns_fd = rs[k].netns_fd;
      fr.push_back(std::move(f));
    }
    std::vector<bool> sent;
    auto pids = program_.forker->fork_instances(fr, &sent);
    bool failed = false;
    for (size_t i = 0; i < batch.size(); ++i) {
      const size_t k = batch[i];
      if (pids[i]) {
        exec[k] = false;
        out[k] = parent_side(*pids[i], p[k].ctl, p[k].err);
        spdlog::debug("{} forked from the instance template as pid {}", rs[k].label, *pids[i]);
        continue;
      }
      if (!failed) // once: from now on every process is exec'd, as without a template
        spdlog::warn("{}: {}; starting instances with exec from now on", rs[k].label,
                     pids[i].err().message);
      failed = true;
      if (sent[i]) { // an instance may hold the descriptors: the caller starts it again later
        exec[k] = false;
        for (int fd : {p[k].ctl[0], p[k].ctl[1], p[k].err[0], p[k].err[1]})
          close(fd);
        out[k] = make_error("the instance template took the request but did not fork");
      }
      // not sent: nothing holds the descriptors, exec with them below
    }
    if (failed)
      program_.forker.reset();
  }
  for (size_t k = 0; k < rs.size(); ++k)
    if (out[k] && exec[k])
      out[k] = exec_process(rs[k], p[k].ctl, p[k].err);
  return out;
}

expected<launched_process> process_launcher::exec_process(const process_request& r, int ctl[2],
                                                          int err[2]) {
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
  const std::vector<std::pair<int, int>> place = child_fds(r, ctl, err);
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
  spdlog::debug("{} started as pid {}", r.label, pid);
  return parent_side(pid, ctl, err);
}

} // namespace spry::core
