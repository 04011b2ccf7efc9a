#include "core/instance_template.hpp"

#include "core/page_prefault.hpp"
#include "core/passed_fds.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

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
constexpr size_t max_fds = 80;              // 64 pools + control, listen, board, transport, stderr twice, netns
constexpr size_t max_cpus = 256;
constexpr size_t max_env = 16384;

// What the template is asked to fork.
enum class wire_kind : uint32_t {
  instance = 0, // an instance, started at once with the request's descriptors and role
  spare = 1,    // a spare: waits on its one descriptor (a socket) for an instance's request
};

struct wire_request {
  uint32_t magic;
  uint32_t seq;            // echoed in the reply: the replies of a batch come in any order
  wire_kind kind;
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

// Calls f(tid) for every thread of this process; the number of threads, -1 if unreadable.
template <class F>
int for_each_thread(F&& f) {
  DIR* d = opendir("/proc/self/task");
  if (!d)
    return -1;
  int n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') {
      f(static_cast<pid_t>(std::atoi(e->d_name)));
      ++n;
    }
  closedir(d);
  return n;
}

int count_threads() {
  return for_each_thread([](pid_t) {});
}

// In a process the template forked through an intermediate (one thread, a copy of the
// template): waits until the intermediate has exited and the kernel made this process the
// gateway's child (bounded; if the gateway is not a subreaper or is gone, init adopts us and we
// must not run unsupervised), then dies with the gateway.
void join_gateway(pid_t gateway) {
  for (int i = 0; i < 100000 && getppid() != gateway; ++i)
    sched_yield();
  // Set only now: the death signal follows the parent, and the first parent was the intermediate.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != gateway)
    _exit(111);
}

// In the instance, a child of the gateway by now, holding no socket of the template's:
// everything the supervisor's exec path does between fork and exec, then the body. Never
// returns.
[[noreturn]] void become_instance(const wire_request& w, const int* fds, const char* comm,
                                  const std::function<int()>& body) {
  prctl(PR_SET_NAME, comm); // the template renamed itself; an instance is named as an exec'd one
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (w.cpu_count > 0) {
    cpu_set_t affinity;
    CPU_ZERO(&affinity);
    for (uint32_t i = 0; i < w.cpu_count; ++i)
      if (w.cpus[i] < CPU_SETSIZE)
        CPU_SET(w.cpus[i], &affinity);
    // Every thread's: a spare may have started some already (spare_prepare); those started
    // from here on inherit the calling thread's.
    for_each_thread([&](pid_t tid) { sched_setaffinity(tid, sizeof affinity, &affinity); });
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

// Receives one request (SOCK_SEQPACKET message, fds in SCM_RIGHTS) into `w` and `fds`; the
// number of fds received, or -1 with errno (0 bytes: EOF, errno 0). `valid` says whether the
// message is a whole, well-formed request.
ssize_t receive_request(int sock, wire_request& w, int* fds, size_t* received, bool* valid) {
  iovec iov{&w, sizeof w};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds)];
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  *received = 0;
  *valid = false;
  const ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  if (n <= 0) {
    if (n == 0)
      errno = 0;
    return n;
  }
  core::for_each_passed_fd(m, [&](int fd) {
    if (*received < max_fds)
      fds[(*received)++] = fd;
    else
      close(fd); // more than any request carries: refused below
  });
  *valid = static_cast<size_t>(n) == sizeof w && w.magic == wire_magic &&
           w.fd_count == *received && w.cpu_count <= max_cpus && w.env_length <= max_env &&
           !(m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
           w.netns < static_cast<int32_t>(*received);
  return n;
}

// A spare (`instances.spare`): a process forked ahead, a child of the gateway, that is no
// function yet. It blocks in recvmsg on its own socket (no CPU, no thread, no user code run)
// until the gateway sends it an instance's request, the same one the template would get, and
// then becomes that instance. EOF (the gateway is stopping or shrinking the set) ends it.
[[noreturn]] void wait_as_spare(int spare, pid_t gateway, int sock, const char* comm,
                                const std::function<int()>& body,
                                const std::function<void()>& spare_prepare) {
  join_gateway(gateway);
  close(sock); // the template's: a spare never talks to it
  // Named apart from instances, so ps, the bench and the tests can tell it from them.
  prctl(PR_SET_NAME, "spry-spare");
  // Nothing to do until asked: map in the code the instance will run, which the fork left
  // unmapped, and copy the pages its start writes to (page_prefault.hpp). On failure the
  // instance takes the faults as it would anyway.
  map_in_file_pages();
  copy_shared_pages();
  if (spare_prepare)
    spare_prepare();
  auto w = std::make_unique<wire_request>();
  int fds[max_fds];
  // Waits as SCHED_BATCH: the request that wakes it does not preempt the gateway thread that
  // sent it, which hands a chain warming up one spare per function in a burst (on a busy node
  // the first spare woken took the CPU from that thread, and the rest waited for it). As an
  // instance it is a normal thread again (below), before anything else runs.
  const sched_param no_priority{};
  for (;;) {
    sched_setscheduler(0, SCHED_BATCH, &no_priority);
    size_t received = 0;
    bool valid = false;
    const ssize_t n = receive_request(spare, *w, fds, &received, &valid);
    sched_setscheduler(0, SCHED_OTHER, &no_priority);
    if (n == 0)
      _exit(0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      _exit(1);
    }
    // The gateway counts this process as the instance from the moment it sent: a request it
    // cannot take is that instance failing to start (an exit before `ready`, 126 as exec's).
    if (!valid || w->kind != wire_kind::instance)
      _exit(126);
    close(spare); // before the fds are placed: it may sit on a target number
    become_instance(*w, fds, comm, body);
  }
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
                                 const std::function<int()>& body,
                                 const std::function<void()>& spare_prepare) {
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
    size_t received = 0;
    bool valid = false;
    const ssize_t n = receive_request(sock, *w, fds, &received, &valid);
    if (n == 0)
      _exit(0); // the gateway is stopping (or gone); intermediates finish on their own
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      _exit(1);
    }
    // A spare gets exactly its socket; it is placed nowhere until its instance's request comes.
    if (valid && w->kind == wire_kind::spare)
      valid = received == 1 && w->netns < 0;
    else if (valid)
      valid = w->kind == wire_kind::instance;
    const uint32_t seq = static_cast<size_t>(n) >= sizeof(uint32_t) * 2 ? w->seq : 0;
    if (!valid) {
      answer(seq, 0, EPROTO);
    } else {
      const pid_t mid = fork();
      if (mid == 0) {
        const pid_t pid = fork();
        if (pid == 0) {
          if (w->kind == wire_kind::spare)
            wait_as_spare(fds[0], gateway, sock, comm, body, spare_prepare);
          join_gateway(gateway);
          close(sock);
          become_instance(*w, fds, comm, body);
        }
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

expected<std::unique_ptr<instance_template>> instance_template::start(std::function<int()> body,
                                                                     size_t spares,
                                                                     std::function<void()> prepare,
                                                                     std::function<void()> spare_prepare) {
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
    if (prepare) {
      prepare();
      // Whatever it started must be gone again: a fork copies only the calling thread, and a
      // lock held by another one would stay held in every instance. A joined thread may still be
      // listed for a moment (pthread_join returns when the kernel clears its tid, before the
      // kernel has released it), so give that a second. Exiting makes the gateway's first
      // request fail, and the launcher exec from then on (said once in the log).
      int threads = count_threads();
      for (int i = 0; i < 1000 && threads != 1; ++i) {
        usleep(1000);
        threads = count_threads();
      }
      if (threads != 1) {
        const char msg[] = "spry: the instance template still has threads after its "
                           "preparation; instances will be exec'd\n";
        (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
        _exit(1);
      }
    }
    // Stop signals for the gateway (a terminal's Ctrl-C reaches the whole group) end the
    // template too; that is fine, the gateway is stopping. The instances unblock them again.
    serve_requests(sv[1], gateway, comm, body, spare_prepare);
  }
  close(sv[1]);
  return result(std::unique_ptr<instance_template>(new instance_template(pid, sv[0], spares)));
}

instance_template::~instance_template() {
  drop_spares();
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

namespace {

bool fits(const fork_request& r) {
  return r.fds.size() + 1 <= max_fds && r.role_env.size() <= max_env && r.cpus.size() <= max_cpus;
}

// The wire form of an instance's request (fits(r) checked), and the fds to pass with it.
void to_wire(const fork_request& r, wire_request& w, std::vector<int>& fds) {
  w.kind = wire_kind::instance;
  for (const auto& [fd, target] : r.fds) {
    w.target[fds.size()] = target;
    fds.push_back(fd);
  }
  w.netns = -1;
  if (r.netns_fd >= 0) {
    w.netns = static_cast<int32_t>(fds.size());
    w.target[fds.size()] = -1;
    fds.push_back(r.netns_fd);
  }
  w.cpu_count = static_cast<uint32_t>(r.cpus.size());
  for (size_t i = 0; i < r.cpus.size(); ++i)
    w.cpus[i] = static_cast<uint16_t>(std::min(r.cpus[i], 65535u));
  w.env_length = static_cast<uint32_t>(r.role_env.size());
  std::memcpy(w.env, r.role_env.data(), r.role_env.size());
}

// One request as one message; false (errno set) if it did not go whole.
bool send_wire(int sock, wire_request& w, const std::vector<int>& fds) {
  w.magic = wire_magic;
  w.fd_count = static_cast<uint32_t>(fds.size());
  iovec iov{&w, sizeof w};
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
    sent = sendmsg(sock, &m, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent == static_cast<ssize_t>(sizeof w))
    return true;
  if (sent >= 0)
    errno = EMSGSIZE;
  return false;
}

// The gateway's side of the template's socket (instance_template's members, under its mutex).
struct template_link {
  int socket;
  pid_t pid;
  uint32_t& next_seq;
  bool& gone; // it did not take a request or answer one: not asked again
};

// One round with the template: `count` requests, each written by `fill`, all sent before any
// answer is awaited. Results and `*sent_out` as for instance_template::fork_instances.
std::vector<expected<pid_t>> template_round(
  template_link t, size_t count,
  const std::function<void(size_t, wire_request&, std::vector<int>&)>& fill,
  std::vector<bool>* sent_out) {
  using result = expected<pid_t>;
  std::vector<result> out(count, result(make_error("the instance template did not answer")));
  sent_out->assign(count, false);
  std::vector<bool> answered(count, false);
  auto w = std::make_unique<wire_request>();
  // Every request first, then the answers: the template forks each as it reads it, so the
  // batch's instances start together (the socket holds a few requests; a full one blocks the
  // send only until the template has read one).
  const uint32_t first_seq = t.next_seq;
  size_t pending = 0;
  for (size_t k = 0; k < count; ++k) {
    if (t.gone) {
      out[k] = result(make_error("the instance template is gone"));
      continue;
    }
    std::memset(w.get(), 0, sizeof *w);
    w->seq = first_seq + static_cast<uint32_t>(k);
    std::vector<int> fds;
    fill(k, *w, fds);
    if (!send_wire(t.socket, *w, fds)) {
      out[k] = result(make_error(std::string("the instance template is gone (") +
                                 strerror(errno) + ")"));
      t.gone = true;
      continue;
    }
    (*sent_out)[k] = true;
    ++pending;
  }
  t.next_seq = first_seq + static_cast<uint32_t>(count);
  // A fork takes a millisecond or so; a template that does not answer a batch in 5 s is wedged.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (pending > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    pollfd p{t.socket, POLLIN, 0};
    const int ready = left.count() > 0 ? poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR)
      continue;
    wire_reply reply{0, 0, 0};
    if (ready <= 0 || recv(t.socket, &reply, sizeof reply, 0) != sizeof reply) {
      // Out of step with it from now on: kill it, so every later request fails fast too. The
      // unanswered keep `sent`: an instance may exist with their descriptors.
      kill(t.pid, SIGKILL);
      t.gone = true;
      for (size_t k = 0; k < count; ++k)
        if ((*sent_out)[k] && !answered[k])
          out[k] = result(make_error("the instance template did not answer (it was killed)"));
      return out;
    }
    const size_t k = reply.seq - first_seq; // wraps for an answer from before: ignored
    if (k >= count || !(*sent_out)[k] || answered[k])
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

} // namespace

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
  std::lock_guard<std::mutex> guard{mtx_};
  // Spares first: a spare is a process forked ahead, so the request costs it no fork at all.
  // What the spares cannot take goes to the template in one round.
  std::vector<size_t> rest;
  for (size_t k = 0; k < rs.size(); ++k) {
    if (!fits(rs[k])) {
      out[k] = result(make_error("the instance's start request does not fit the template's limits"));
      continue;
    }
    if (const pid_t pid = give_to_spare_locked(rs[k])) {
      out[k] = pid;
      (*sent_out)[k] = true; // the spare holds the descriptors now
      continue;
    }
    rest.push_back(k);
  }
  if (rest.empty())
    return out;
  std::vector<bool> sent;
  auto pids = template_round(
    template_link{socket_, pid_, next_seq_, gone_}, rest.size(), [&](size_t i, wire_request& w, std::vector<int>& fds) { to_wire(rs[rest[i]], w, fds); },
    &sent);
  for (size_t i = 0; i < rest.size(); ++i) {
    out[rest[i]] = std::move(pids[i]);
    (*sent_out)[rest[i]] = sent[i];
  }
  return out;
}

// -- spares ------------------------------------------------------------------------------------

pid_t instance_template::give_to_spare_locked(const fork_request& r) {
  auto w = std::make_unique<wire_request>();
  while (!spares_.empty()) {
    const spare s = spares_.front(); // the oldest first: each waited the longest
    spares_.erase(spares_.begin());
    std::memset(w.get(), 0, sizeof *w);
    std::vector<int> fds;
    to_wire(r, *w, fds);
    const bool sent = send_wire(s.socket, *w, fds);
    const int e = errno;
    close(s.socket); // the spare closes its end too: from now on it is an instance like any
    if (sent) {
      spdlog::debug("spare process {} takes an instance's request", s.pid);
      return s.pid;
    }
    // Gone while waiting (killed, most likely): not an instance, so nothing the supervisor
    // counts; reap it here and try the next. Our child until reaped: its pid cannot be reused.
    int status = 0;
    kill(s.pid, SIGKILL);
    waitpid(s.pid, &status, 0);
    spdlog::warn("spare process {} was gone when an instance needed it ({}); trying the next",
                 s.pid, strerror(e));
  }
  return 0;
}

void instance_template::reap_spares_locked() {
  for (auto i = spares_.begin(); i != spares_.end();) {
    int status = 0;
    if (waitpid(i->pid, &status, WNOHANG) != i->pid) {
      ++i;
      continue;
    }
    spdlog::warn("spare process {} {} while waiting; forking another", i->pid,
                 WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                     : "exited with status " + std::to_string(WEXITSTATUS(status)));
    close(i->socket);
    i = spares_.erase(i);
  }
}

bool instance_template::refill_spares() {
  std::lock_guard<std::mutex> guard{mtx_};
  reap_spares_locked();
  if (spares_.size() >= spare_target_)
    return true;
  if (gone_)
    return false;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return false;
  std::vector<bool> sent;
  auto pid = std::move(template_round(
                         template_link{socket_, pid_, next_seq_, gone_}, 1,
                         [&](size_t, wire_request& w, std::vector<int>& fds) {
                           w.kind = wire_kind::spare;
                           w.netns = -1;
                           w.target[0] = -1; // placed nowhere: the spare's own socket
                           fds.push_back(sv[1]);
                         },
                         &sent)
                         .front());
  close(sv[1]); // the spare has its copy
  if (!pid) {
    // A spare that exists anyway (EIO: its intermediate vanished) sees EOF and exits.
    close(sv[0]);
    spdlog::warn("cannot fork a spare instance process: {}", pid.err().message);
    return false;
  }
  spares_.push_back({*pid, sv[0]});
  spdlog::debug("spare process {} forked from the instance template ({} of {})", *pid,
                spares_.size(), spare_target_);
  return true;
}

bool instance_template::spares_missing() {
  std::lock_guard<std::mutex> guard{mtx_};
  return !gone_ && spares_.size() < spare_target_;
}

size_t instance_template::spare_count() {
  std::lock_guard<std::mutex> guard{mtx_};
  return spares_.size();
}

void instance_template::drop_spares() {
  std::lock_guard<std::mutex> guard{mtx_};
  spare_target_ = 0;
  // EOF on its socket ends a spare at once (it is blocked reading it); SIGKILL if it is stuck.
  for (const spare& s : spares_)
    close(s.socket);
  for (int i = 0; i < 200 && !spares_.empty(); ++i) {
    for (auto k = spares_.begin(); k != spares_.end();) {
      const pid_t r = waitpid(k->pid, nullptr, WNOHANG);
      k = r == k->pid || (r < 0 && errno == ECHILD) ? spares_.erase(k) : k + 1;
    }
    if (!spares_.empty())
      usleep(1000);
  }
  for (const spare& s : spares_) {
    kill(s.pid, SIGKILL);
    waitpid(s.pid, nullptr, 0);
  }
  spares_.clear();
}

} // namespace spry::core
