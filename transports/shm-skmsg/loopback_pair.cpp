#include "transports/shm-skmsg/loopback_pair.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace spry::transports::skmsg {

core::expected<socket_pair> make_socket_pair() {
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

} // namespace spry::transports::skmsg
