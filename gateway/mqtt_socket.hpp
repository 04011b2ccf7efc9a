#pragma once
// TCP_NODELAY for Paho's connection to the broker. Paho MQTT C 1.3 never sets it and offers no
// socket hook, so MQTT packets are small writes under Nagle's algorithm: the second PUBLISH of a
// burst (or a PUBACK after a PUBLISH) waits until the broker ACKs the first, and Linux delays
// that ACK by up to 40 ms. Measured on loopback with the motion-detection chain: p50 ~45 ms from
// sensor PUBLISH to light reply with Nagle, ~2 ms without. Paho keeps one socket per client, so
// after connecting, every TCP socket of this process whose peer is the broker's address gets
// TCP_NODELAY (setting it on another client's socket to the same broker only helps that one).
// Header-only: used by motion_replay, which publishes through Paho and links no spry library
// (the gateway has its own MQTT client and sets TCP_NODELAY when it connects). The broker's side
// needs mosquitto's `set_tcp_nodelay true` (README: MQTT).

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace spry::gateway {

/// Sets TCP_NODELAY on this process's TCP sockets connected to `broker` ("tcp://HOST:PORT",
/// HOST numeric or resolvable). Returns how many sockets it changed.
inline int disable_nagle_towards(const std::string& broker) {
  std::string rest = broker;
  if (const auto p = rest.find("://"); p != std::string::npos)
    rest = rest.substr(p + 3);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos)
    return 0;
  const std::string host = rest.substr(0, colon), port = rest.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
    return 0;
  int changed = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      const int fd = std::atoi(e->d_name);
      if (fd <= 2 || fd == dirfd(d))
        continue;
      sockaddr_storage peer{};
      socklen_t len = sizeof peer;
      int type = 0;
      socklen_t tl = sizeof type;
      if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM ||
          getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0)
        continue;
      for (auto* a = res; a; a = a->ai_next)
        if (a->ai_addrlen == len && std::memcmp(a->ai_addr, &peer, len) == 0) {
          const int one = 1;
          if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0)
            ++changed;
          break;
        }
    }
    closedir(d);
  }
  freeaddrinfo(res);
  return changed;
}

} // namespace spry::gateway
