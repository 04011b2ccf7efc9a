#pragma once
// A deliberately low-level HTTP client for tests: it sends raw bytes (so tests can send
// malformed or pipelined requests) and parses responses with Beast.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace spry::test {

struct http_response {
  unsigned status = 0;
  std::map<std::string, std::string> headers; ///< lower-case names
  std::string body;
  bool keep_alive = false;
  std::string header(const std::string& name) const {
    auto i = headers.find(name);
    return i == headers.end() ? std::string() : i->second;
  }
};

class http_connection {
public:
  explicit http_connection(uint16_t port);
  ~http_connection();
  bool connected() const noexcept { return fd_ >= 0; }

  bool send_raw(const std::string& bytes);
  /// Reads one response; nullopt on close, error or timeout.
  std::optional<http_response> read_response(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// true if the peer closed the connection within `timeout`.
  bool closed_by_peer(std::chrono::milliseconds timeout);

  std::optional<http_response> request(const std::string& method, const std::string& target,
                                       const std::string& body = {},
                                       const std::string& extra_headers = {});

private:
  int fd_ = -1;
  std::string buffered_;
};

/// One request on a fresh connection.
std::optional<http_response> http_request(uint16_t port, const std::string& method,
                                          const std::string& target,
                                          const std::string& body = {});

/// Value of a Prometheus sample line `name{labels} value` in `text`, or nullopt.
std::optional<double> metric_value(const std::string& text, const std::string& name_and_labels);

} // namespace spry::test
