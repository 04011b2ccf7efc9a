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
#include <chrono>
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
  uint32_t seq;            // echoed in the reply: the replies of a batch come in any order
  uint32_t fd_count;
  int32_t target[max_fds]; // where fd i goes in the instance; -1: not placed (the netns)
  int32_t netns;           // index of the namespace fd, -1: none
  uint32_t cpu_count;
  uint16_t cpus[max_cpus];
  uint32_t env_length;
  char env[max_env];
};

struct wire_reply {
  uint32_t seq;  // the request's
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
//
// The template forks the intermediate and goes straight on to the next request: the
// intermediate forks the instance and answers the gateway itself (the socket is a copy of the
// template's; SOCK_SEQPACKET keeps each answer whole). So the instances of a batch (a chain
// warming up from zero) are forked concurrently, and none waits for the previous one's
// intermediate to be scheduled, fork and exit. The template reaps its intermediates as they
// exit; one that died without answering (status not 0) is answered for with EIO, as an
// instance may exist with the descriptors.
[[noreturn]] void serve_requests(int sock, pid_t gateway, const char* comm,
                                 const std::function<int()>& body) {
  auto w = std::make_unique<wire_request>();
  std::vector<std::pair<pid_t, uint32_t>> intermediates; // not yet reaped, with their request
  auto answer = [&](uint32_t seq, int32_t pid, int32_t error) {
    const wire_reply reply{seq, pid, error};
    if (send(sock, &reply, sizeof reply, MSG_NOSIGNAL) != sizeof reply)
      _exit(1);
  };
  auto reap = [&] {
    for (auto i = intermediates.begin(); i != intermediates.end();) {
      int status = 0;
      const pid_t r = waitpid(i->first, &status, WNOHANG);
      if (r == 0) {
        ++i;
        continue;
      }
      if (r == i->first && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        answer(i->second, 0, EIO);
      i = intermediates.erase(i);
    }
  };
  for (;;) {
    // While intermediates are out, wake now and then to reap them (and answer for a lost one).
    pollfd p{sock, POLLIN, 0};
    if (poll(&p, 1, intermediates.empty() ? -1 : 5) == 0) {
      reap();
      continue;
    }
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
      _exit(0); // the gateway is stopping (or gone); intermediates finish on their own
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN)
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
    const bool valid = static_cast<size_t>(n) == sizeof *w && w->magic == wire_magic &&
                       w->fd_count == received && w->cpu_count <= max_cpus &&
                       w->env_length <= max_env && !(m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
                       w->netns < static_cast<int32_t>(received);
    const uint32_t seq = static_cast<size_t>(n) >= sizeof(uint32_t) * 2 ? w->seq : 0;
    if (!valid) {
      answer(seq, 0, EPROTO);
    } else {
      const pid_t mid = fork();
      if (mid == 0) {
        const pid_t pid = fork();
        if (pid == 0)
          become_instance(*w, fds, gateway, sock, comm, body);
        const wire_reply reply{seq, pid > 0 ? pid : 0, pid > 0 ? 0 : errno};
        for (size_t i = 0; i < received; ++i) // before the answer: the caller closes its copies
          close(fds[i]);
        // Exit status 0 only once answered: the template answers EIO for any other.
        _exit(send(sock, &reply, sizeof reply, MSG_NOSIGNAL) == sizeof reply ? 0 : 1);
        // The instance is reparented to the gateway (a subreaper) as this process exits.
      }
      if (mid < 0)
        answer(seq, 0, errno);
      else
        intermediates.emplace_back(mid, seq);
    }
    // The template's copies: the intermediate (and so the instance) has its own by now.
    for (size_t i = 0; i < received; ++i)
      close(fds[i]);
    reap();
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
  std::vector<bool> sent;
  auto pids = fork_instances({r}, &sent);
  *sent_out = sent.front();
  return std::move(pids.front());
}

std::vector<expected<pid_t>> instance_template::fork_instances(const std::vector<fork_request>& rs,
                                                               std::vector<bool>* sent_out) {
  using result = expected<pid_t>;
  // The answers wait in our socket until every request of the batch is sent, charged to the
  // template's send buffer (shared with its intermediates): a bounded batch stays well inside it,
  // so neither side can block the other. A larger one goes in parts.
  constexpr size_t max_batch = 32;
  if (rs.size() > max_batch) {
    std::vector<result> out;
    sent_out->clear();
    for (size_t b = 0; b < rs.size(); b += max_batch) {
      const std::vector<fork_request> part(rs.begin() + static_cast<std::ptrdiff_t>(b),
                                           rs.begin() + static_cast<std::ptrdiff_t>(
                                                          std::min(b + max_batch, rs.size())));
      std::vector<bool> sent;
      auto got = fork_instances(part, &sent);
      for (size_t k = 0; k < got.size(); ++k) {
        out.push_back(std::move(got[k]));
        sent_out->push_back(sent[k]);
      }
    }
    return out;
  }
  std::vector<result> out(rs.size(), result(make_error("the instance template did not answer")));
  sent_out->assign(rs.size(), false);
  std::vector<bool> answered(rs.size(), false);
  auto w = std::make_unique<wire_request>();
  std::lock_guard<std::mutex> guard{mtx_};
  // Every request first, then the answers: the template forks each as it reads it, so the
  // batch's instances start together (the socket holds a few requests; a full one blocks the
  // send only until the template has read one).
  const uint32_t first_seq = next_seq_;
  size_t pending = 0;
  bool gone = false;
  for (size_t k = 0; k < rs.size(); ++k) {
    const fork_request& r = rs[k];
    if (gone) {
      out[k] = result(make_error("the instance template is gone"));
      continue;
    }
    if (r.fds.size() + 1 > max_fds || r.role_env.size() > max_env || r.cpus.size() > max_cpus) {
      out[k] = result(make_error("the instance's start request does not fit the template's limits"));
      continue;
    }
    std::memset(w.get(), 0, sizeof *w);
    w->magic = wire_magic;
    w->seq = first_seq + static_cast<uint32_t>(k);
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
    ssize_t sent;
    do
      sent = sendmsg(socket_, &m, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    if (sent != static_cast<ssize_t>(sizeof *w)) {
      out[k] = result(make_error(std::string("the instance template is gone (") +
                                 (sent < 0 ? strerror(errno) : "short send") + ")"));
      gone = true;
      continue;
    }
    (*sent_out)[k] = true;
    ++pending;
  }
  next_seq_ = first_seq + static_cast<uint32_t>(rs.size());
  // A fork takes a millisecond or so; a template that does not answer a batch in 5 s is wedged.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (pending > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    pollfd p{socket_, POLLIN, 0};
    const int ready = left.count() > 0 ? poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR)
      continue;
    wire_reply reply{0, 0, 0};
    if (ready <= 0 || recv(socket_, &reply, sizeof reply, 0) != sizeof reply) {
      // Out of step with it from now on: kill it, so every later request fails fast too. The
      // unanswered keep `sent`: an instance may exist with their descriptors.
      kill(pid_, SIGKILL);
      for (size_t k = 0; k < rs.size(); ++k)
        if ((*sent_out)[k] && !answered[k])
          out[k] = result(make_error("the instance template did not answer (it was killed)"));
      return out;
    }
    const size_t k = reply.seq - first_seq; // wraps for an answer from before: ignored
    if (k >= rs.size() || !(*sent_out)[k] || answered[k])
      continue;
    answered[k] = true;
    --pending;
    // It answered: no instance has the descriptors unless the intermediate vanished without
    // telling the pid (EIO).
    (*sent_out)[k] = reply.pid <= 0 && reply.error == EIO;
    if (reply.pid <= 0)
      out[k] = result(make_error(std::string("the instance template could not fork: ") +
                                 strerror(reply.error)));
    else
      out[k] = reply.pid;
  }
  return out;
}

} // namespace spry::core
