#pragma once
// HTTP/1.1 ingress on Boost.Beast, the listening side: binds gateway.listen, runs the I/O
// threads, accepts connections and hands each to a session (http_session.hpp: keep-alive,
// pipelining, limits, statuses), sheds connections with 503 when the process is out of file
// descriptors, and drains in-flight requests on stop. What a request may be (Host, target forms,
// body limits) is decided in http_request.hpp.

#include "core/app_spec.hpp"
#include "core/error.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>
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
  /// Run to completion for answers: I/O thread 0 reads the gateway's endpoint itself when the
  /// transport lets it (shm-skmsg), so an answer is written out by the thread that read it
  /// instead of being posted over from the transport's receive thread.
  void take_answers();
  void wait_answers();
  /// On I/O thread 0 (or with no I/O thread running): the transport's thread delivers again.
  void give_answers_back();

  gateway& gw_;
  core::gateway_spec spec_;
  using executor = boost::asio::io_context::executor_type;
  /// One per I/O thread, each run by that thread alone (a connection lives on one of them).
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  size_t next_context_ = 0; ///< where the next accepted connection goes (round robin)
  boost::asio::basic_socket_acceptor<boost::asio::ip::tcp, executor> acceptor_;
  boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                    boost::asio::wait_traits<std::chrono::steady_clock>, executor>
    accept_retry_;
  int reserve_fd_ = -1; ///< /dev/null, held so that one descriptor is free when all others are used
  std::chrono::steady_clock::time_point last_shed_log_{};
  uint64_t shed_since_log_ = 0;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::shared_ptr<std::atomic<uint64_t>> connections_ = std::make_shared<std::atomic<uint64_t>>(0);
  bool running_ = false;
  /// The gateway endpoint's readiness (a dup of the transport's fd) while I/O thread 0 reads it.
  std::unique_ptr<boost::asio::posix::basic_stream_descriptor<executor>> answers_;
  bool answers_taken_ = false;
};

} // namespace spry::gateway
