#include "transports/shm-skmsg/loopback_pair.hpp"

#include "core/instance_template.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <optional>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace spry::transports::skmsg {

namespace {

std::mutex ahead_mtx;
std::optional<socket_pair> ahead; // made by make_socket_pair_ahead, not taken yet

core::expected<socket_pair> make_new_pair() {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (l < 0 || bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 1) != 0 ||
      getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const int e = errno;
    if (l >= 0)
      close(l);
    return core::make_error(std::string("shm-skmsg: cannot create a loopback socket: ") + strerror(e));
  }
  socket_pair p;
  p.mine = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (p.mine < 0 || connect(p.mine, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const int e = errno;
    close(l);
    if (p.mine >= 0)
      close(p.mine);
    return core::make_error(std::string("shm-skmsg: cannot connect a loopback socket: ") + strerror(e));
  }
  p.other = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  close(l);
  if (p.other < 0) {
    close(p.mine);
    return core::make_error(std::string("shm-skmsg: accept failed: ") + strerror(errno));
  }
  int one = 1;
  setsockopt(p.mine, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(p.mine, F_SETFL, fcntl(p.mine, F_GETFL) | O_NONBLOCK);
  return p;
}

} // namespace

core::expected<socket_pair> make_socket_pair() {
  {
    std::lock_guard<std::mutex> guard{ahead_mtx};
    if (ahead) {
      const socket_pair p = *ahead;
      ahead.reset();
      return p;
    }
  }
  return make_new_pair();
}

void make_socket_pair_ahead() {
  std::lock_guard<std::mutex> guard{ahead_mtx};
  if (ahead)
    return;
  auto p = make_new_pair();
  if (!p)
    return;
  // Kept where becoming an instance does not place its own descriptors over them.
  socket_pair kept{fcntl(p->mine, F_DUPFD_CLOEXEC, core::spare_fd_floor),
                   fcntl(p->other, F_DUPFD_CLOEXEC, core::spare_fd_floor)};
  for (int fd : {p->mine, p->other})
    close(fd);
  if (kept.mine >= 0 && kept.other >= 0) {
    ahead = kept;
    return;
  }
  for (int fd : {kept.mine, kept.other})
    if (fd >= 0)
      close(fd);
}

} // namespace spry::transports::skmsg
