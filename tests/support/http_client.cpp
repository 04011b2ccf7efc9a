#include "tests/support/http_client.hpp"

#include <boost/beast/http.hpp>

#include <arpa/inet.h>
#include <cctype>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

namespace spry::test {

namespace http = boost::beast::http;

http_connection::http_connection(uint16_t port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

http_connection::~http_connection() {
  if (fd_ >= 0)
    close(fd_);
}

bool http_connection::send_raw(const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::optional<http_response> http_connection::read_response(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  parser.eager(true);
  for (;;) {
    if (!buffered_.empty()) {
      boost::beast::error_code ec;
      const size_t used = parser.put(boost::asio::buffer(buffered_), ec);
      buffered_.erase(0, used);
      if (ec && ec != http::error::need_more)
        return std::nullopt;
      if (parser.is_done()) {
        http_response r;
        const auto& m = parser.get();
        r.status = m.result_int();
        for (const auto& f : m) {
          std::string name(f.name_string());
          for (auto& c : name)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          r.headers[name] = std::string(f.value());
        }
        r.body = m.body();
        r.keep_alive = m.keep_alive();
        return r;
      }
      if (used > 0 && !buffered_.empty())
        continue;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return std::nullopt;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0)
      return std::nullopt;
    buffered_.append(buf, static_cast<size_t>(n));
  }
}

bool http_connection::closed_by_peer(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
    return false;
  char c;
  return ::recv(fd_, &c, 1, MSG_PEEK) == 0;
}

std::optional<http_response> http_connection::request(const std::string& method,
                                                      const std::string& target,
                                                      const std::string& body,
                                                      const std::string& extra_headers) {
  std::ostringstream req;
  req << method << " " << target << " HTTP/1.1\r\nHost: 127.0.0.1\r\n" << extra_headers;
  if (!body.empty() || method == "POST" || method == "PUT")
    req << "Content-Length: " << body.size() << "\r\n";
  req << "\r\n" << body;
  if (!send_raw(req.str()))
    return std::nullopt;
  return read_response();
}

std::optional<http_response> http_request(uint16_t port, const std::string& method,
                                          const std::string& target, const std::string& body) {
  http_connection c(port);
  if (!c.connected())
    return std::nullopt;
  return c.request(method, target, body);
}

std::optional<double> metric_value(const std::string& text, const std::string& name_and_labels) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name_and_labels.size(), name_and_labels) == 0 &&
        line.size() > name_and_labels.size() && line[name_and_labels.size()] == ' ')
      return std::stod(line.substr(name_and_labels.size() + 1));
  }
  return std::nullopt;
}

} // namespace spry::test
