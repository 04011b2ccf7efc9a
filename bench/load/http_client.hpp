#pragma once
// A blocking HTTP/1.1 client with a deadline per request, for benchmarks that read /status and
// /metrics between (or beside) load runs, or need to tell a hung request from a slow one (the
// load generator, http_load.hpp, has no per-request timeout). One keep-alive connection to
// 127.0.0.1:port, reopened after an error or `Connection: close`. Not thread-safe: one per thread.

#include <chrono>
#include <cstdint>
#include <string>

namespace spry::bench {

struct http_reply {
  unsigned status = 0; ///< 0: no answer (see error)
  std::string error;   ///< "timeout", "connect", "closed", ...
  std::string body;
};

class http_client {
public:
  explicit http_client(uint16_t port) : port_(port) {}
  ~http_client() { close_(); }
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  http_reply request(const std::string& method, const std::string& path, const std::string& body,
                     std::chrono::milliseconds timeout);

private:
  using steady = std::chrono::steady_clock;
  bool connect_(steady::time_point deadline);
  bool wait_(short events, steady::time_point deadline);
  bool write_all_(const std::string& s, steady::time_point deadline);
  bool read_some_(std::string& into, steady::time_point deadline);
  void close_();

  uint16_t port_;
  int fd_ = -1;
  bool timed_out_ = false;
};

/// One GET on a fresh connection.
http_reply http_get(uint16_t port, const std::string& path,
                    std::chrono::milliseconds timeout = std::chrono::seconds(2));

} // namespace spry::bench
