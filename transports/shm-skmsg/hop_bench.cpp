#include "transports/shm-skmsg/hop_bench.hpp"
#include "transports/hop_pinger.hpp"

#include "core/clock.hpp"
#include "core/descriptor.hpp"
#include "core/pool.hpp"
#include "core/transport.hpp"
#include "sk_msg_redirect.skel.h"
#include "transports/shm-skmsg/skmsg_transport.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <future>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace spry::transports::skmsg {

namespace {

constexpr const char* role_variable = "SPRY_SKMSG_HOPS";
// The child's inherited descriptors: the control socket, its bare sk_msg socket, the pool.
constexpr int child_ctl_fd = 3, child_sock_fd = 4, child_pool_fd = 5;
constexpr unsigned warmup = 2000;
constexpr uint16_t ping_tag = 0, stop_raw_tag = 2;
// One byte each way on the control socket.
constexpr char ready_msg = 'R', quit_msg = 'Q';

struct tcp_pair {
  int mine = -1, other = -1;
};

void close_pair(tcp_pair& p) {
  for (int* fd : {&p.mine, &p.other})
    if (*fd >= 0) {
      close(*fd);
      *fd = -1;
    }
}

// An established loopback TCP connection (a sockmap takes only established TCP sockets);
// blocking, TCP_NODELAY on `mine`.
core::expected<tcp_pair> connected_pair() {
  const int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  tcp_pair p;
  if (l < 0 || bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 1) != 0 ||
      getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      (p.mine = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
      connect(p.mine, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      (p.other = accept4(l, nullptr, nullptr, SOCK_CLOEXEC)) < 0) {
    const int e = errno;
    if (l >= 0)
      close(l);
    close_pair(p);
    return core::make_error(std::string("hop benchmark: loopback socket pair: ") + strerror(e));
  }
  close(l);
  int one = 1;
  setsockopt(p.mine, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return p;
}

bool send_descriptor(int fd, const core::descriptor& d) {
  for (;;) {
    const ssize_t n = ::send(fd, &d, sizeof d, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(sizeof d))
      return true;
    if (n < 0 && errno == EINTR)
      continue;
    return false;
  }
}

// Blocks for the next descriptor (16 bytes; sk_msg delivers each send whole, but a stream
// socket may still split a read).
bool recv_descriptor(int fd, core::descriptor& d) {
  auto* p = reinterpret_cast<char*>(&d);
  size_t got = 0;
  while (got < sizeof d) {
    const ssize_t n = recv(fd, p + got, sizeof d - got, 0);
    if (n > 0)
      got += static_cast<size_t>(n);
    else if (n < 0 && errno == EINTR)
      continue;
    else
      return false;
  }
  return true;
}

// Waits up to `timeout` for one control byte.
bool read_ctl(int fd, char& c, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) != 1)
    return false;
  return read(fd, &c, 1) == 1;
}

bool send_fd(int ctl, int fd) {
  char byte = 'F';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(ctl, &m, MSG_NOSIGNAL) == 1;
}

int receive_fd(int ctl, std::chrono::milliseconds timeout) {
  pollfd p{ctl, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) != 1)
    return -1;
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  if (recvmsg(ctl, &m, MSG_CMSG_CLOEXEC) != 1)
    return -1;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  if (!c || c->cmsg_type != SCM_RIGHTS)
    return -1;
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

// Both sides configure CAF like an instance process does (core/runtime.cpp), so the transport
// hop costs what it costs in a chain (the same settings as shm-dpdk's hop benchmark).
std::unique_ptr<caf::actor_system_config> actor_config(size_t threads) {
  auto cfg = std::make_unique<caf::actor_system_config>();
  cfg->set("scheduler.max-threads", threads);
  cfg->set("logger.verbosity", caf::atom("quiet"));
  cfg->set("work-stealing.moderate-poll-attempts", size_t{0});
  cfg->set("work-stealing.relaxed-sleep-duration", caf::timespan{std::chrono::seconds(1)});
  return cfg;
}

core::expected<std::unique_ptr<core::transport>> make_transport(const core::transport_context& ctx) {
  core::transport_registry reg;
  register_transport(reg);
  return reg.create("shm-skmsg", ctx);
}

// The bare program and sockmap of the primitive's ping-pong.
struct bare_program {
  spry_sk_msg* skel = nullptr;
  ~bare_program() {
    if (skel)
      spry_sk_msg__destroy(skel);
  }
};

} // namespace

core::expected<std::vector<core::hop_measurement>> measure_hops(unsigned round_trips) {
  // -- 1. the bare primitive's program, map and sockets ----------------------------------------
  libbpf_set_print([](enum libbpf_print_level, const char*, va_list) { return 0; });
  bare_program bare;
  bare.skel = spry_sk_msg__open_and_load();
  if (!bare.skel)
    return core::make_error(std::string("hop benchmark: cannot load the sk_msg program (") +
                            strerror(errno) + "); needs root or CAP_BPF + CAP_NET_ADMIN");
  const int map = bpf_map__fd(bare.skel->maps.spry_endpoints);
  if (bpf_prog_attach(bpf_program__fd(bare.skel->progs.spry_redirect), map, BPF_SK_MSG_VERDICT, 0))
    return core::make_error(std::string("hop benchmark: cannot attach the sk_msg program: ") +
                            strerror(errno));
  auto p1 = connected_pair();
  if (!p1)
    return p1.err();
  auto p2 = connected_pair();
  if (!p2) {
    close_pair(*p1);
    return p2.err();
  }
  auto close_sockets = [&] {
    close_pair(*p1);
    close_pair(*p2);
  };
  for (auto [key, fd] : {std::pair<uint32_t, int>{1, p1->mine}, {2, p2->mine}}) {
    const uint32_t value = static_cast<uint32_t>(fd);
    if (bpf_map_update_elem(map, &key, &value, BPF_ANY) != 0) {
      const int e = errno;
      close_sockets();
      return core::make_error(std::string("hop benchmark: sockmap insert: ") + strerror(e));
    }
  }
  int ctl[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0) {
    close_sockets();
    return core::make_error(std::string("hop benchmark: socketpair: ") + strerror(errno));
  }

  // -- the transport's endpoint 1, and a pool both processes map --------------------------------
  core::pool_options po;
  po.name = "spry-skmsg-hops";
  po.buffer_count = 16;
  po.buffer_size = 64;
  po.try_hugepages = false;
  auto made = core::pool::create(po);
  if (!made) {
    close_sockets();
    return made.err();
  }
  std::vector<core::pool> pools;
  pools.push_back(std::move(*made));

  // -- the child (started before any thread of this process: fork + exec) -----------------------
  std::vector<std::string> env_store;
  for (char** env = environ; *env; ++env)
    if (std::strncmp(*env, role_variable, std::strlen(role_variable)) != 0)
      env_store.emplace_back(*env);
  env_store.push_back(std::string(role_variable) + "=1");
  std::vector<char*> envp;
  for (auto& s : env_store)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  char self[] = "/proc/self/exe";
  char* argv[] = {self, nullptr};
  const int pool_fd = pools[0].fd();
  const int sock_fd = p2->mine;
  const int ctl_child = ctl[1];
  const pid_t child = fork();
  if (child < 0) {
    close_sockets();
    return core::make_error(std::string("hop benchmark: fork: ") + strerror(errno));
  }
  if (child == 0) {
    // dup2 clears close-on-exec on the copies. Through high numbers first, so that no source
    // is overwritten before it is copied.
    const int a = fcntl(ctl_child, F_DUPFD_CLOEXEC, 100), b = fcntl(sock_fd, F_DUPFD_CLOEXEC, 100),
              c = fcntl(pool_fd, F_DUPFD_CLOEXEC, 100);
    dup2(a, child_ctl_fd);
    dup2(b, child_sock_fd);
    dup2(c, child_pool_fd);
    execve(self, argv, envp.data());
    _exit(127);
  }
  close(ctl[1]);
  const int ctl_fd = ctl[0];
  auto reap = [&] {
    int status = 0;
    for (int i = 0; i < 500 && waitpid(child, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (waitpid(child, &status, WNOHANG) == 0) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
    }
  };
  auto fail = [&](const std::string& why) -> core::expected<std::vector<core::hop_measurement>> {
    kill(child, SIGKILL);
    reap();
    close(ctl_fd);
    close_sockets();
    return core::make_error("hop benchmark: " + why);
  };

  // -- 1. bare sk_msg ping-pong: blocking recv on both sides ------------------------------------
  char c = 0;
  if (!read_ctl(ctl_fd, c, std::chrono::seconds(20)) || c != ready_msg)
    return fail("the child process did not start (see its messages above)");
  std::vector<uint64_t> raw;
  raw.reserve(round_trips);
  core::descriptor d{};
  for (unsigned i = 0; i < warmup + round_trips; ++i) {
    const uint64_t t0 = core::now_ns();
    if (!send_descriptor(p1->mine, core::descriptor{2, 0, ping_tag, 0}) ||
        !recv_descriptor(p1->mine, d))
      return fail("the bare sk_msg ping-pong broke off");
    if (i >= warmup)
      raw.push_back((core::now_ns() - t0) / 2);
  }
  if (!send_descriptor(p1->mine, core::descriptor{2, 0, stop_raw_tag, 0}))
    return fail("cannot stop the bare ping-pong");

  // -- 2. the transport's hop: endpoints 1 <-> 2 through mailboxes, 3 <-> 4 inline -------------
  auto cfg = actor_config(2); // the gateway's side: as many workers as a gateway on this machine
  std::vector<core::hop_measurement> out;
  bool ok = false;
  {
    caf::actor_system sys{*cfg};
    core::transport_context ctx;
    ctx.system = &sys;
    ctx.pools = &pools;
    ctx.max_endpoints = 8;
    ctx.queue_capacity = 1024;
    auto tp = make_transport(ctx);
    if (!tp)
      return fail(tp.err().message);
    auto via_mailbox = std::make_shared<pinger_state>();
    auto via_inline = std::make_shared<pinger_state>();
    auto p_mailbox = make_pinger(sys, hop_sink::mailbox, via_mailbox, tp->get(), &pools[0], 1, 2,
                                 warmup, round_trips);
    auto p_inline = make_pinger(sys, hop_sink::inline_run, via_inline, tp->get(), &pools[0], 3, 4,
                                warmup, round_trips);
    ok = (*tp)->bind(1, p_mailbox) && (*tp)->bind(3, p_inline);
    // The child's endpoint 2 and 4 sockets, registered here as the node registers an instance's.
    const int fd2 = ok ? receive_fd(ctl_fd, std::chrono::seconds(20)) : -1;
    const int fd4 = fd2 >= 0 ? receive_fd(ctl_fd, std::chrono::seconds(20)) : -1;
    ok = fd4 >= 0 && (*tp)->adopt(2, fd2) && (*tp)->adopt(4, fd4);
    // One ping-pong at a time, so that neither competes with the other for the two cores.
    ok = ok && run_ping_pong(**tp, pools[0], *via_mailbox, 2) &&
         run_ping_pong(**tp, pools[0], *via_inline, 4);
    (void)!write(ctl_fd, &quit_msg, 1);
    (*tp)->stop();
    for (auto& sink : {p_mailbox, p_inline})
      caf::anon_send_exit(sink->actor(), caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
    for (int fd : {fd2, fd4})
      if (fd >= 0)
        close(fd);
    out.push_back(core::hop_measurement::of(
      "bare sk_msg ping-pong, process <-> process (blocking recv)", std::move(raw)));
    out.push_back(core::hop_measurement::of(
      "shm-skmsg hop, mailbox: sk_msg -> epoll reader -> actor mailbox", std::move(via_mailbox->samples)));
    out.push_back(core::hop_measurement::of(
      "shm-skmsg hop, inline: sk_msg -> epoll reader runs the handler", std::move(via_inline->samples)));
  }
  reap();
  close(ctl_fd);
  close_sockets();
  if (!ok)
    return core::make_error("hop benchmark: the shm-skmsg transport ping-pong did not complete");
  return out;
}

std::optional<int> hop_bench_role_main() {
  if (!std::getenv(role_variable))
    return std::nullopt;
  prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the benchmark
  // 1. Echo every bare ping to endpoint 1 until told to stop.
  if (write(child_ctl_fd, &ready_msg, 1) != 1)
    return 1;
  core::descriptor d{};
  for (;;) {
    if (!recv_descriptor(child_sock_fd, d))
      return 1;
    if (d.tag == stop_raw_tag)
      break;
    d.dst = 1;
    if (!send_descriptor(child_sock_fd, d))
      return 1;
  }
  // 2. Endpoint 2 of the transport, in the instance role: send every descriptor back to 1.
  auto pool = core::pool::attach(child_pool_fd);
  if (!pool) {
    std::fprintf(stderr, "hop benchmark child: %s\n", pool.err().message.c_str());
    return 1;
  }
  close(child_pool_fd);
  std::vector<core::pool> pools;
  pools.push_back(std::move(*pool));
  auto cfg = actor_config(1); // an instance of concurrency 1 runs one worker
  int code = 0;
  {
    caf::actor_system sys{*cfg};
    core::transport_context ctx;
    ctx.system = &sys;
    ctx.pools = &pools;
    ctx.max_endpoints = 8;
    ctx.queue_capacity = 1024;
    ctx.instance_role = true;
    auto tp = make_transport(ctx);
    if (!tp) {
      std::fprintf(stderr, "hop benchmark child: %s\n", tp.err().message.c_str());
      return 1;
    }
    core::transport* t = tp->get();
    auto e_mailbox = make_echo(sys, hop_sink::mailbox, t, 2, 1);
    auto e_inline = make_echo(sys, hop_sink::inline_run, t, 4, 3);
    if (!(*tp)->bind(2, e_mailbox) || !(*tp)->bind(4, e_inline) ||
        !send_fd(child_ctl_fd, (*tp)->handover_fd(2)) ||
        !send_fd(child_ctl_fd, (*tp)->handover_fd(4))) {
      code = 1;
    } else {
      char c = 0;
      while (read(child_ctl_fd, &c, 1) == 1 && c != quit_msg) {
      }
    }
    (*tp)->stop();
    for (auto& sink : {e_mailbox, e_inline})
      caf::anon_send_exit(sink->actor(), caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
  }
  return code;
}

} // namespace spry::transports::skmsg
