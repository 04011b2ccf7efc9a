#pragma once
// Helpers for tests of tcp.namespaces / tcp.xdp_tc_redirect: run code inside a named network
// namespace, speak HTTP to an address there, and list what a run left behind.

#include "tests/support/processes.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>

namespace spry::test {

/// Why these tests cannot run here, or empty.
inline std::string netns_missing() {
  if (geteuid() != 0)
    return "not root (network namespaces, veths and iptables need CAP_SYS_ADMIN and CAP_NET_ADMIN)";
  if (run_command("iptables-save -V").first != 0 || run_command("ip -V").first != 0)
    return "iproute2 or iptables missing (scripts/setup installs them)";
  return {};
}

/// Runs `f` on a thread inside namespace /run/netns/`name`; false if it could not enter.
inline bool in_namespace(const std::string& name, const std::function<void()>& f) {
  const int fd = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  bool entered = false;
  std::thread t([&] {
    if (setns(fd, CLONE_NEWNET) != 0)
      return;
    entered = true;
    f();
  });
  t.join();
  ::close(fd);
  return entered;
}

/// Sends `bytes` to ip:port on a fresh connection (this thread's namespace) and returns what comes
/// back until the peer closes (a reset counts as a close); "" if it could not connect, and
/// "no close within 10 s" if the peer neither answers nor closes.
inline std::string raw_tcp(const std::string& ip, uint16_t port, const std::string& bytes) {
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return {};
  timeval tv{10, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  std::string out;
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      send(s, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = recv(s, buf, sizeof buf, 0)) > 0)
      out.append(buf, static_cast<size_t>(n));
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      out = "no close within 10 s";
  }
  ::close(s);
  return out;
}

/// One HTTP/1.1 request with Connection: close to ip:port (this thread's namespace); the raw
/// response (status line, headers, body), or "" on failure.
inline std::string raw_http(const std::string& ip, uint16_t port, const std::string& method,
                            const std::string& target, const std::string& body) {
  const std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + ip +
                          "\r\nConnection: close\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
  const auto out = raw_tcp(ip, port, req);
  return out == "no close within 10 s" ? std::string() : out;
}

/// The body of a raw HTTP response ("" if it has none).
inline std::string body_of(const std::string& raw) {
  const auto i = raw.find("\r\n\r\n");
  return i == std::string::npos ? std::string() : raw.substr(i + 4);
}

/// Everything of the pod network of process `pid` still on the machine: namespaces, links
/// (with their qdiscs and filters), iptables chains; one line each. Empty when all is gone.
inline std::string netns_leftovers(pid_t pid) {
  const std::string p = std::to_string(pid);
  std::string out;
  out += run_command("ip netns list | grep -E '^spry-" + p + "-' || true").second;
  out += run_command("ip -o link show | grep -E ': sp" + p + "-[0-9]+[@:]' || true").second;
  out += run_command("tc qdisc show | grep -E 'dev sp" + p + "-[0-9]+ ' || true").second;
  out += run_command("iptables-save | grep -E 'SPRY-" + p + "-' || true").second;
  return out;
}

/// How many of the forwarding programs are loaded on the machine (bpftool prog).
inline int forwarding_programs_loaded() {
  auto [rc, out] = run_command("bpftool prog show | grep -cE 'name (spry_tc_forward|spry_xdp_forwar|"
                               "spry_xdp_pass)' || true");
  return rc == 0 ? std::atoi(out.c_str()) : -1;
}

/// Waits up to 3 s (programs are freed after an RCU grace period) for the count to drop to
/// `expected`; returns the last count.
inline int wait_for_programs(int expected) {
  int n = forwarding_programs_loaded();
  for (int i = 0; i < 60 && n != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    n = forwarding_programs_loaded();
  }
  return n;
}

} // namespace spry::test
