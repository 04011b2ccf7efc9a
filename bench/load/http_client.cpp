#include "bench/load/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <regex>

namespace spry::bench {

http_reply http_client::request(const std::string& method, const std::string& path,
                                const std::string& body, std::chrono::milliseconds timeout) {
  const auto deadline = steady::now() + timeout;
  http_reply r;
  if (fd_ < 0 && !connect_(deadline)) {
    r.error = "connect";
    return r;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!body.empty() || method == "POST")
    req += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  if (!write_all_(req, deadline)) {
    r.error = timed_out_ ? "timeout" : "write";
    close_();
    return r;
  }
  std::string in;
  size_t header_end;
  while ((header_end = in.find("\r\n\r\n")) == std::string::npos)
    if (!read_some_(in, deadline)) {
      r.error = timed_out_ ? "timeout" : "closed";
      close_();
      return r;
    }
  std::smatch m;
  const std::string head = in.substr(0, header_end);
  if (!std::regex_search(head, m, std::regex(R"(^HTTP/1\.\d (\d{3}))"))) {
    r.error = "bad response";
    close_();
    return r;
  }
  r.status = static_cast<unsigned>(std::stoul(m[1]));
  size_t length = 0;
  if (std::regex_search(head, m, std::regex(R"(\r\n[Cc]ontent-[Ll]ength:\s*(\d+))")))
    length = std::stoul(m[1]);
  while (in.size() < header_end + 4 + length)
    if (!read_some_(in, deadline)) {
      r.error = timed_out_ ? "timeout" : "closed";
      r.status = 0;
      close_();
      return r;
    }
  r.body = in.substr(header_end + 4, length);
  if (std::regex_search(head, std::regex(R"(\r\n[Cc]onnection:\s*close)")))
    close_();
  return r;
}

bool http_client::connect_(steady::time_point deadline) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    return false;
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port_);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 && errno != EINPROGRESS) {
    close_();
    return false;
  }
  if (!wait_(POLLOUT, deadline)) {
    close_();
    return false;
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    close_();
    return false;
  }
  return true;
}
bool http_client::wait_(short events, steady::time_point deadline) {
  timed_out_ = false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  pollfd p{fd_, events, 0};
  if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
    timed_out_ = true;
    return false;
  }
  return true;
}
bool http_client::write_all_(const std::string& s, steady::time_point deadline) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR) && wait_(POLLOUT, deadline))
      continue;
    return false;
  }
  return true;
}
bool http_client::read_some_(std::string& into, steady::time_point deadline) {
  for (;;) {
    char buf[8192];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      into.append(buf, static_cast<size_t>(n));
      return true;
    }
    if (n == 0)
      return false;
    if ((errno == EAGAIN || errno == EINTR) && wait_(POLLIN, deadline))
      continue;
    return false;
  }
}
void http_client::close_() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

http_reply http_get(uint16_t port, const std::string& path, std::chrono::milliseconds timeout) {
  http_client c(port);
  return c.request("GET", path, "", timeout);
}

} // namespace spry::bench
