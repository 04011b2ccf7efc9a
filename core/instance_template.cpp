#include "core/instance_template.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace spry::core {

namespace {

// -- the request on the wire (one SOCK_SEQPACKET message, the fds in SCM_RIGHTS) ---------------

constexpr uint32_t wire_magic = 0x5350544d; // "SPTM"
constexpr size_t max_fds = 80;              // 64 pools + control, listen, board, stderr twice, netns
constexpr size_t max_cpus = 256;
constexpr size_t max_env = 16384;

struct wire_request {
  uint32_t magic;
  uint32_t fd_count;
  int32_t target[max_fds]; // where fd i goes in the instance; -1: not placed (the netns)
  int32_t netns;           // index of the namespace fd, -1: none
  uint32_t cpu_count;
  uint16_t cpus[max_cpus];
  uint32_t env_length;
  char env[max_env];
};

struct wire_reply {
  int32_t pid;   // > 0: the instance, a child of the gateway by now
  int32_t error; // errno of what failed, when pid <= 0
};

int count_threads() {
  DIR* d = opendir("/proc/self/task");
  if (!d)
    return -1;
  int n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.')
      ++n;
  closedir(d);
  return n;
}

// In the forked instance (one thread, a copy of the template): everything the supervisor's exec
// path does between fork and exec, then the body. Never returns.
[[noreturn]] void become_instance(const wire_request& w, const int* fds, pid_t gateway, int sock,
                                  const char* comm, const std::function<int()>& body) {
  // The intermediate process is exiting: wait to be the gateway's child (bounded; if the gateway
  // is not a subreaper or is gone, init adopts us and we must not run unsupervised).
  for (int i = 0; i < 100000 && getppid() != gateway; ++i)
    sched_yield();
  // Set only now: the death signal follows the parent, and the first parent was the intermediate.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != gateway)
    _exit(111);
  prctl(PR_SET_NAME, comm); // the template renamed itself; an instance is named as an exec'd one
  close(sock);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (w.cpu_count > 0) {
    cpu_set_t affinity;
    CPU_ZERO(&affinity);
    for (uint32_t i = 0; i < w.cpu_count; ++i)
      if (w.cpus[i] < CPU_SETSIZE)
        CPU_SET(w.cpus[i], &affinity);
    sched_setaffinity(0, sizeof affinity, &affinity);
  }
  if (w.netns >= 0 && setns(fds[w.netns], CLONE_NEWNET) != 0) {
    const char msg[] = "spry: cannot enter the instance's network namespace\n";
    for (uint32_t i = 0; i < w.fd_count; ++i)
      if (w.target[i] == STDERR_FILENO)
        (void)!write(fds[i], msg, sizeof msg - 1);
    _exit(126);
  }
  // Lift every received fd above every target first (a received fd may sit on a target number),
  // then place them, then close the received copies: the instance holds what an exec'd one
  // holds. Only those: whatever else the template inherited from the gateway (a descriptor a
  // function library opened when it was loaded) the instance keeps, as the library expects.
  int floor = 3;
  for (uint32_t i = 0; i < w.fd_count; ++i)
    floor = std::max(floor, w.target[i] + 1);
  int lifted[max_fds];
  for (uint32_t i = 0; i < w.fd_count; ++i) {
    lifted[i] = fcntl(fds[i], F_DUPFD, floor);
    if (lifted[i] < 0)
      _exit(126);
  }
  for (uint32_t i = 0; i < w.fd_count; ++i)
    if (w.target[i] >= 0)
      dup2(lifted[i], w.target[i]);
  auto is_target = [&](int fd) {
    for (uint32_t i = 0; i < w.fd_count; ++i)
      if (w.target[i] == fd)
        return true;
    return false;
  };
  for (uint32_t i = 0; i < w.fd_count; ++i) {
    if (!is_target(fds[i]))
      close(fds[i]);
    close(lifted[i]); // at or above floor: never a target
  }
  // The environment the role reads (putenv keeps the pointer: a copy that lives forever).
  putenv(strndup(w.env, w.env_length));
  std::exit(body()); // as an exec'd instance returning from main: atexit handlers, stdio flushed
}

// The template's loop: one request, one instance, until the gateway closes the socket.
[[noreturn]] void serve_requests(int sock, pid_t gateway, const char* comm,
                                 const std::function<int()>& body) {
  auto w = std::make_unique<wire_request>();
  for (;;) {
    int fds[max_fds];
    iovec iov{w.get(), sizeof *w};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds)];
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    const ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    if (n == 0)
      _exit(0); // the gateway is stopping (or gone)
    if (n < 0) {
      if (errno == EINTR)
        continue;
      _exit(1);
    }
    size_t received = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        const size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k && received < max_fds; ++i)
          std::memcpy(&fds[received++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      }
    wire_reply reply{0, 0};
    const bool valid = static_cast<size_t>(n) == sizeof *w && w->magic == wire_magic &&
                       w->fd_count == received && w->cpu_count <= max_cpus &&
                       w->env_length <= max_env && !(m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
                       w->netns < static_cast<int32_t>(received);
    int pid_pipe[2] = {-1, -1};
    if (!valid) {
      reply.error = EPROTO;
    } else if (pipe2(pid_pipe, O_CLOEXEC) != 0) {
      reply.error = errno;
    } else {
      const pid_t mid = fork();
      if (mid == 0) {
        close(pid_pipe[0]);
        const pid_t pid = fork();
        if (pid == 0) {
          close(pid_pipe[1]);
          become_instance(*w, fds, gateway, sock, comm, body);
        }
        const int32_t out = pid > 0 ? pid : -errno;
        (void)!write(pid_pipe[1], &out, sizeof out);
        _exit(0); // the instance is reparented to the gateway (a subreaper) now
      }
      close(pid_pipe[1]);
      if (mid < 0) {
        reply.error = errno;
      } else {
        int32_t got = 0;
        ssize_t r;
        do
          r = read(pid_pipe[0], &got, sizeof got);
        while (r < 0 && errno == EINTR);
        while (waitpid(mid, nullptr, 0) < 0 && errno == EINTR) {
        }
        if (r == sizeof got && got > 0)
          reply.pid = got;
        else
          reply.error = r == sizeof got ? -got : EIO;
      }
      close(pid_pipe[0]);
    }
    for (size_t i = 0; i < received; ++i)
      close(fds[i]);
    if (send(sock, &reply, sizeof reply, MSG_NOSIGNAL) != sizeof reply)
      _exit(1);
  }
}

} // namespace

expected<std::unique_ptr<instance_template>> instance_template::start(std::function<int()> body) {
  using result = expected<std::unique_ptr<instance_template>>;
  if (const int threads = count_threads(); threads != 1)
    return result(make_error("cannot fork an instance template: this process has " +
                             std::to_string(threads) +
                             " threads (only a single-threaded process may be forked)"));
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    return result(make_error(std::string("PR_SET_CHILD_SUBREAPER: ") + strerror(errno)));
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return result(make_error(std::string("socketpair: ") + strerror(errno)));
  char comm[16] = {};
  prctl(PR_GET_NAME, comm);
  const pid_t gateway = getpid();
  // Whatever stdio holds unwritten would be copied into the template and written again by every
  // instance when it exits.
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    close(sv[0]);
    close(sv[1]);
    return result(make_error(std::string("fork: ") + strerror(e)));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != gateway)
      _exit(111);
    close(sv[0]);
    // Named apart from the instances and the gateway, so ps (and tests counting instance
    // processes) can tell it from them.
    prctl(PR_SET_NAME, "spry-template");
    // Stop signals for the gateway (a terminal's Ctrl-C reaches the whole group) end the
    // template too; that is fine, the gateway is stopping. The instances unblock them again.
    serve_requests(sv[1], gateway, comm, body);
  }
  close(sv[1]);
  return result(std::unique_ptr<instance_template>(new instance_template(pid, sv[0])));
}

instance_template::~instance_template() {
  close(socket_);
  // EOF ends its loop at once; it has no children of its own left (each instance was handed
  // over), so this wait is short. SIGKILL if it is stuck anyway.
  for (int i = 0; i < 200; ++i) {
    const pid_t r = waitpid(pid_, nullptr, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD))
      return;
    usleep(1000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

expected<pid_t> instance_template::fork_instance(const fork_request& r, bool* sent_out) {
  using result = expected<pid_t>;
  *sent_out = false;
  if (r.fds.size() + 1 > max_fds || r.role_env.size() > max_env || r.cpus.size() > max_cpus)
    return result(make_error("the instance's start request does not fit the template's limits"));
  auto w = std::make_unique<wire_request>();
  std::memset(w.get(), 0, sizeof *w);
  w->magic = wire_magic;
  std::vector<int> fds;
  for (const auto& [fd, target] : r.fds) {
    w->target[fds.size()] = target;
    fds.push_back(fd);
  }
  w->netns = -1;
  if (r.netns_fd >= 0) {
    w->netns = static_cast<int32_t>(fds.size());
    w->target[fds.size()] = -1;
    fds.push_back(r.netns_fd);
  }
  w->fd_count = static_cast<uint32_t>(fds.size());
  w->cpu_count = static_cast<uint32_t>(r.cpus.size());
  for (size_t i = 0; i < r.cpus.size(); ++i)
    w->cpus[i] = static_cast<uint16_t>(std::min(r.cpus[i], 65535u));
  w->env_length = static_cast<uint32_t>(r.role_env.size());
  std::memcpy(w->env, r.role_env.data(), r.role_env.size());

  iovec iov{w.get(), sizeof *w};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds)] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  if (!fds.empty()) {
    m.msg_control = control;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  std::lock_guard<std::mutex> guard{mtx_};
  ssize_t sent;
  do
    sent = sendmsg(socket_, &m, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(sizeof *w))
    return result(make_error(std::string("the instance template is gone (") +
                             (sent < 0 ? strerror(errno) : "short send") + ")"));
  *sent_out = true;
  // A fork takes a millisecond or so; a template that does not answer in 5 s is wedged.
  pollfd p{socket_, POLLIN, 0};
  int ready;
  do
    ready = poll(&p, 1, 5000);
  while (ready < 0 && errno == EINTR);
  wire_reply reply{0, 0};
  if (ready <= 0 || recv(socket_, &reply, sizeof reply, 0) != sizeof reply) {
    // Out of step with it from now on: kill it, so every later request fails fast too.
    kill(pid_, SIGKILL);
    return result(make_error("the instance template did not answer (it was killed)"));
  }
  // It answered: its copies of the descriptors are closed, and no instance has them unless the
  // intermediate process vanished without telling the pid (EIO).
  *sent_out = reply.pid <= 0 && reply.error == EIO;
  if (reply.pid <= 0)
    return result(make_error(std::string("the instance template could not fork: ") +
                             strerror(reply.error)));
  return reply.pid;
}

} // namespace spry::core
