#pragma once
// A real mosquitto broker for tests: on a free loopback port, configured from a temp dir (no
// persistence, anonymous clients, Nagle off as the README tells users to), stopped by its PID. Tests that need it call
// mosquitto_binary() first and WARN that they did not run when it is missing.

#include "bench/load/child_process.hpp"
#include "tests/support/processes.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <memory>
#include <string>
#include <thread>

namespace spry::test {

/// Path of the mosquitto broker, or "" when it is not installed (scripts/setup installs it).
inline std::string mosquitto_binary() {
  for (const char* p : {"/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"})
    if (access(p, X_OK) == 0)
      return p;
  return {};
}

inline bool mosquitto_clients_present() {
  return access("/usr/bin/mosquitto_pub", X_OK) == 0 && access("/usr/bin/mosquitto_sub", X_OK) == 0;
}

/// A loopback port nobody listens on right now.
inline uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

inline bool port_accepts(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

class mosquitto_broker {
public:
  /// Writes the config into `dir` and starts the broker on `port` (0 = a free one); `extra` is
  /// appended to the config (one option per line).
  mosquitto_broker(const temp_dir& dir, uint16_t port = 0, std::string extra = {})
    : dir_(dir), port_(port ? port : free_port()), extra_(std::move(extra)) {
    start();
  }
  uint16_t port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  void start() {
    const auto conf = dir_.file("mosquitto.conf", "listener " + std::to_string(port_) +
                                                    " 127.0.0.1\nallow_anonymous true\n"
                                                    "persistence false\nset_tcp_nodelay true\n" + extra_);
    proc_ = std::make_unique<bench::child_process>(
      std::vector<std::string>{mosquitto_binary(), "-c", conf}, dir_.path + "/mosquitto.log");
    for (int i = 0; i < 500 && !port_accepts(port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(port_accepts(port_));
  }
  /// Stops the broker by its PID (SIGTERM, then SIGKILL).
  void stop() {
    if (proc_)
      proc_->stop(SIGTERM, std::chrono::seconds(5));
    proc_.reset();
  }

private:
  const temp_dir& dir_;
  uint16_t port_;
  std::string extra_;
  std::unique_ptr<bench::child_process> proc_;
};

} // namespace spry::test
