#pragma once
// File descriptors passed with a message over a Unix socket (SCM_RIGHTS): the control channel's
// and the instance template's receivers read them out of a message the same way.

#include <cstring>
#include <sys/socket.h>

namespace spry::core {

/// Calls `take(fd)` for every descriptor the SCM_RIGHTS parts of received message `m` carry, in
/// order. The receiver owns each one from then on (it must keep or close it).
template <class F>
void for_each_passed_fd(msghdr& m, F&& take) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        take(fd);
      }
    }
}

} // namespace spry::core
