#pragma once
// HTTP/1.1 ingress on Boost.Beast: keep-alive, one request at a time per connection (so
// pipelined requests are answered in order), body limit (413), header/body timeouts (408),
// unknown route (404), wrong method (405), pool exhausted (503 + Retry-After), chain deadline
// (504). The request body is parsed straight into the chain's pool buffer: the only user-space
// copy of the payload on the way in.
//
// Reserved paths: GET /healthz (liveness + readiness), GET /metrics (Prometheus text).

#include "core/app_spec.hpp"
#include "core/error.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace spry::gateway {

class gateway;

class http_server {
public:
  http_server(gateway& gw, const core::gateway_spec& spec);
  ~http_server();

  /// Binds and starts the I/O threads. Errors name the address and the cause.
  core::status_or_error start();
  /// The bound port (useful with port 0).
  uint16_t port() const noexcept { return port_; }
  /// Stops accepting, waits up to `drain_ms` for in-flight requests, then stops all I/O.
  void stop(unsigned drain_ms = 5000);
  /// Connections open now.
  uint64_t connections() const noexcept { return connections_->load(); }

private:
  void do_accept();
  /// Out of file descriptors (EMFILE/ENFILE): frees the reserve descriptor, accepts one waiting
  /// connection, answers it 503 and closes it, then takes the reserve again. Without this the
  /// connection would sit in the backlog and every accept would fail at once again: a busy loop
  /// that answers nobody.
  void shed_one();

  gateway& gw_;
  core::gateway_spec spec_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_;
  int reserve_fd_ = -1; ///< /dev/null, held so that one descriptor is free when all others are used
  std::chrono::steady_clock::time_point last_shed_log_{};
  uint64_t shed_since_log_ = 0;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::shared_ptr<std::atomic<uint64_t>> connections_ = std::make_shared<std::atomic<uint64_t>>(0);
  bool running_ = false;
};

} // namespace spry::gateway
