#include "gateway/http_server.hpp"

#include "gateway/gateway.hpp"
#include "gateway/http_session.hpp"
#include "gateway/metrics.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/beast/core/error.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <future>
#include <thread>

namespace spry::gateway {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::vector<std::unique_ptr<net::io_context>> make_contexts(unsigned n) {
  std::vector<std::unique_ptr<net::io_context>> out;
  for (unsigned i = 0; i < std::max(1u, n); ++i)
    out.push_back(std::make_unique<net::io_context>(1)); // concurrency hint: one thread each
  return out;
}

} // namespace

http_server::http_server(gateway& gw, const core::gateway_spec& spec)
  : gw_(gw),
    spec_(spec),
    contexts_(make_contexts(spec.io_threads)),
    acceptor_(contexts_[0]->get_executor()),
    accept_retry_(contexts_[0]->get_executor()) {
}

http_server::~http_server() {
  stop(0);
  if (reserve_fd_ >= 0)
    ::close(reserve_fd_);
}

core::status_or_error http_server::start() {
  beast::error_code ec;
  const auto addr = net::ip::make_address(spec_.host, ec);
  if (ec)
    return core::make_error(spec_.where.prefix() + "gateway.listen: '" + spec_.host +
                            "' is not an IP address");
  const tcp::endpoint ep{addr, spec_.port};
  acceptor_.open(ep.protocol(), ec);
  if (!ec)
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    acceptor_.bind(ep, ec);
  if (!ec)
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return core::make_error("cannot listen on " + spec_.host + ":" + std::to_string(spec_.port) +
                            ": " + ec.message());
  port_ = acceptor_.local_endpoint().port();
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  running_ = true;
  take_answers();
  do_accept();
  for (auto& ctx : contexts_)
    threads_.emplace_back([c = ctx.get(), &gw = gw_] {
      // Without work of its own a context's run() would return at once.
      auto guard = net::make_work_guard(*c);
      c->run();
      gw.flush_sends(); // a flush the stopped loop did not run
    });
  return {};
}

void http_server::take_answers() {
  const int fd = gw_.take_answers();
  if (fd < 0)
    return; // the transport delivers on its own thread (and posts answers over)
  answers_taken_ = true;
  // A dup: the descriptor object closes what it holds, and the endpoint's socket stays the
  // transport's. Registering it queues a readiness event if something waits already; the wait
  // below only sees later edges, so the first drain runs regardless.
  answers_ = std::make_unique<net::posix::basic_stream_descriptor<executor>>(
    contexts_[0]->get_executor(), ::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  net::post(*contexts_[0], [this] {
    gw_.drain_answers();
    wait_answers();
  });
}

void http_server::wait_answers() {
  // Edge-triggered: a descriptor that arrives after the drain's last read raises a new edge,
  // which the next poll of this thread reports to the wait queued here before it.
  answers_->async_wait(net::posix::descriptor_base::wait_read, [this](beast::error_code ec) {
    if (ec || !answers_taken_)
      return; // given back
    gw_.drain_answers();
    wait_answers();
  });
}

void http_server::give_answers_back() {
  if (!answers_taken_)
    return;
  answers_taken_ = false;
  beast::error_code ignored;
  answers_->close(ignored); // ends the wait and lets go of our dup of the socket
  gw_.return_answers();
}

void http_server::do_accept() {
  // Connections go to the I/O threads in turn; each is served by its thread alone.
  auto& ctx = *contexts_[next_context_++ % contexts_.size()];
  acceptor_.async_accept(ctx.get_executor(), [this](beast::error_code ec, session_socket s) {
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor_.is_open())
        return;
      if (ec == boost::system::errc::too_many_files_open ||
          ec == boost::system::errc::too_many_files_open_in_system) {
        shed_one();
        // Give connections time to finish and free descriptors before trying again.
        accept_retry_.expires_after(std::chrono::milliseconds(reserve_fd_ >= 0 ? 1 : 20));
        accept_retry_.async_wait([this](beast::error_code tec) {
          if (!tec && acceptor_.is_open())
            do_accept();
        });
        return;
      }
      spdlog::warn("gateway: accept failed: {}", ec.message());
    } else {
      s.set_option(tcp::no_delay(true), ec);
      serve_connection(std::move(s), gw_, spec_, connections_);
    }
    do_accept();
  });
}

void http_server::shed_one() {
  if (reserve_fd_ >= 0) {
    ::close(reserve_fd_);
    reserve_fd_ = -1;
    const int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      static const std::string answer = [] {
        const std::string body = "the gateway is out of file descriptors; retry later\n";
        return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\n"
               "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      }();
      (void)!::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      gw_.stats().connection_shed();
      ++shed_since_log_;
    }
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  // One line per second at most: a flood of connections must not become a flood of log lines.
  const auto now = std::chrono::steady_clock::now();
  if (now - last_shed_log_ >= std::chrono::seconds(1)) {
    spdlog::warn("gateway: out of file descriptors (limit reached); {} connection(s) answered 503 "
                 "and closed since the last report; raise the limit (ulimit -n) or lower the load",
                 shed_since_log_);
    last_shed_log_ = now;
    shed_since_log_ = 0;
  }
}

void http_server::stop(unsigned drain_ms) {
  if (!running_)
    return;
  running_ = false;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(drain_ms);
  while (gw_.in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Let the last responses be written before the loop stops.
  if (drain_ms)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Answers that arrive from now on (MQTT's, late ones) go to the transport's thread again;
  // the hand-back runs on I/O thread 0, the only one that drains.
  if (answers_taken_ && !threads_.empty()) {
    std::promise<void> given_back;
    auto done = given_back.get_future();
    net::post(*contexts_[0], [this, &given_back] {
      give_answers_back();
      given_back.set_value();
    });
    done.wait();
  }
  for (auto& ctx : contexts_)
    ctx->stop();
  for (auto& t : threads_)
    t.join();
  threads_.clear();
  give_answers_back(); // no I/O thread runs now (a no-op if done above)
  // The close posted above may not have run before the loop stopped (stop(0) does not wait):
  // no thread runs the loop now, so close here, or the port would keep taking connections into
  // its backlog that nobody answers.
  beast::error_code ignored;
  acceptor_.close(ignored);
}

} // namespace spry::gateway
