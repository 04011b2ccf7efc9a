#include "transports/tcp/queue_proxy.hpp"

#include "core/data_path_counters.hpp"
#include "core/role_env.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <deque>
#include <memory>
#include <optional>
#include <sys/prctl.h>
#include <unistd.h>
#include <vector>

namespace spry::transports::tcp {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using btcp = net::ip::tcp;

namespace {

constexpr size_t max_queued = 10000;
constexpr uint64_t max_body = uint64_t{1} << 30;

class proxy;

class downstream : public std::enable_shared_from_this<downstream> {
public:
  downstream(btcp::socket s, proxy& p) : stream_(std::move(s)), proxy_(p) {}
  void read();
  void answer(http::response<http::string_body> res);
  http::request<http::string_body>& request() { return req_; }

private:
  void on_read(beast::error_code ec);
  beast::tcp_stream stream_;
  proxy& proxy_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

class upstream : public std::enable_shared_from_this<upstream> {
public:
  upstream(net::io_context& ioc, proxy& p) : stream_(ioc), proxy_(p) {}
  void forward(std::shared_ptr<downstream> d);

private:
  void write();
  void fail(const std::string& why);
  beast::tcp_stream stream_;
  proxy& proxy_;
  std::shared_ptr<downstream> down_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> res_;
  bool connected_ = false;
};

class proxy {
public:
  proxy(net::io_context& ioc, const sidecar_role& role) : ioc_(ioc), role_(role), acceptor_(ioc) {}

  bool start() {
    beast::error_code ec;
    acceptor_.assign(btcp::v4(), role_.listen_fd, ec);
    if (ec) {
      std::fprintf(stderr, "queue-proxy %s: cannot use its listening socket: %s\n",
                   role_.name.c_str(), ec.message().c_str());
      return false;
    }
    accept();
    return true;
  }

  void submit(std::shared_ptr<downstream> d) {
    requests_++;
    if (d->request().method() == http::verb::get && d->request().target() == "/metrics") {
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      res.body() = "spry_queue_proxy_requests_total " + std::to_string(requests_) +
                   "\nspry_queue_proxy_in_flight " + std::to_string(active_) +
                   "\nspry_queue_proxy_queued " + std::to_string(queue_.size()) +
                   "\nspry_queue_proxy_rejected_total " + std::to_string(rejected_) + "\n";
      res.prepare_payload();
      d->answer(std::move(res));
      return;
    }
    if (active_ < role_.concurrency) {
      dispatch(std::move(d));
      return;
    }
    if (queue_.size() >= max_queued) {
      rejected_++;
      http::response<http::string_body> res{http::status::service_unavailable, 11};
      res.body() = "queue-proxy: queue full";
      res.prepare_payload();
      d->answer(std::move(res));
      return;
    }
    queue_.push_back(std::move(d)); // containerConcurrency reached: wait for a free slot
  }

  void done(std::shared_ptr<upstream> u) {
    if (!queue_.empty()) {
      auto next = std::move(queue_.front());
      queue_.pop_front();
      u->forward(std::move(next));
      return;
    }
    active_--;
    idle_.push_back(std::move(u));
  }

  void broken() { active_--; pump(); }

  const sidecar_role& role() const { return role_; }

private:
  void dispatch(std::shared_ptr<downstream> d) {
    active_++;
    std::shared_ptr<upstream> u;
    if (!idle_.empty()) {
      u = std::move(idle_.back());
      idle_.pop_back();
    } else {
      u = std::make_shared<upstream>(ioc_, *this);
    }
    u->forward(std::move(d));
  }

  void pump() {
    while (active_ < role_.concurrency && !queue_.empty()) {
      auto next = std::move(queue_.front());
      queue_.pop_front();
      dispatch(std::move(next));
    }
  }

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, btcp::socket s) {
      if (ec == net::error::operation_aborted)
        return;
      if (!ec) {
        s.set_option(btcp::no_delay(true), ec);
        std::make_shared<downstream>(std::move(s), *this)->read();
      }
      accept();
    });
  }

  net::io_context& ioc_;
  sidecar_role role_;
  btcp::acceptor acceptor_;
  unsigned active_ = 0;
  std::deque<std::shared_ptr<downstream>> queue_;
  std::vector<std::shared_ptr<upstream>> idle_;
  uint64_t requests_ = 0, rejected_ = 0;
};

void downstream::read() {
  parser_.emplace();
  parser_->body_limit(max_body);
  http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
    self->on_read(ec);
  });
}

void downstream::on_read(beast::error_code ec) {
  if (ec)
    return;
  req_ = parser_->release();
  // For the overhead audit: out of the kernel into the read buffer, then into the body.
  if (!req_.body().empty())
    core::data_path::count(core::data_path::site::chain, core::data_path::event::copy, 2);
  proxy_.submit(shared_from_this());
}

void downstream::answer(http::response<http::string_body> res) {
  res_ = std::move(res);
  res_.keep_alive(req_.keep_alive());
  using namespace core::data_path;
  count(site::chain, event::protocol_message);
  if (!res_.body().empty())
    count(site::chain, event::copy);
  http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec || !self->res_.keep_alive())
      return;
    self->read();
  });
}

void upstream::forward(std::shared_ptr<downstream> d) {
  down_ = std::move(d);
  down_->request().keep_alive(true);
  if (connected_)
    return write();
  beast::error_code ec;
  const auto addr = net::ip::make_address(proxy_.role().upstream_host, ec);
  stream_.async_connect(btcp::endpoint{addr, proxy_.role().upstream_port},
                        [self = shared_from_this()](beast::error_code ec) {
                          if (ec)
                            return self->fail("connect: " + ec.message());
                          self->connected_ = true;
                          self->stream_.socket().set_option(btcp::no_delay(true), ec);
                          self->write();
                        });
}

void upstream::write() {
  http::async_write(stream_, down_->request(), [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec)
      return self->fail("write: " + ec.message());
    using namespace core::data_path;
    count(site::chain, event::protocol_message);
    if (!self->down_->request().body().empty())
      count(site::chain, event::copy);
    self->res_.emplace();
    self->res_->body_limit(max_body);
    http::async_read(self->stream_, self->buffer_, *self->res_,
                     [self](beast::error_code ec, size_t) {
                       if (ec)
                         return self->fail("read: " + ec.message());
                       auto d = std::move(self->down_);
                       d->answer(self->res_->release());
                       self->proxy_.done(self);
                     });
  });
}

void upstream::fail(const std::string& why) {
  connected_ = false;
  beast::error_code ignored;
  stream_.socket().close(ignored);
  http::response<http::string_body> res{http::status::bad_gateway, 11};
  res.set(http::field::content_type, "text/plain");
  res.body() = "queue-proxy " + proxy_.role().name + ": instance unreachable (" + why + ")";
  res.prepare_payload();
  auto d = std::move(down_);
  d->answer(std::move(res));
  proxy_.broken();
}

} // namespace

std::string sidecar_role_env(const core::sidecar_launch& l) {
  return "SPRY_SIDECAR=control_fd=" + std::to_string(l.control_fd) +
         ";listen_fd=" + std::to_string(l.listen_fd) +
         ";upstream_port=" + std::to_string(l.upstream_port) +
         ";concurrency=" + std::to_string(l.concurrency) + ";parent=" + std::to_string(l.parent) +
         ";name=" + l.name;
}

std::optional<core::expected<sidecar_role>> sidecar_role_from_env() {
  const auto env = core::read_role_env("SPRY_SIDECAR");
  if (!env.present)
    return std::nullopt;
  if (!env.error.empty())
    return core::expected<sidecar_role>(core::make_error(env.error));
  const auto& kv = env.values;
  sidecar_role r;
  try {
    r.control_fd = static_cast<int>(core::role_number(kv, "control_fd"));
    r.listen_fd = static_cast<int>(core::role_number(kv, "listen_fd"));
    r.upstream_port = static_cast<uint16_t>(core::role_number(kv, "upstream_port"));
    r.concurrency = static_cast<unsigned>(core::role_number(kv, "concurrency"));
    r.parent = kv.count("parent") ? static_cast<pid_t>(core::role_number(kv, "parent")) : 0;
    r.name = kv.count("name") ? kv.at("name") : std::string("queue-proxy");
  } catch (const std::exception& e) {
    return core::expected<sidecar_role>(core::make_error(std::string("SPRY_SIDECAR: ") + e.what()));
  }
  if (r.upstream_port == 0 || r.concurrency == 0)
    return core::expected<sidecar_role>(core::make_error("SPRY_SIDECAR: upstream_port and concurrency must be positive"));
  return core::expected<sidecar_role>(r);
}

int run_queue_proxy(const sidecar_role& role) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (role.parent != 0 && getppid() != role.parent)
    return 1;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  net::io_context ioc;
  proxy p(ioc, role);
  if (!p.start())
    return 1;
  // The control channel carries nothing for a sidecar; its EOF means "the agent is gone or
  // wants us gone".
  net::posix::stream_descriptor control(ioc, role.control_fd);
  char byte;
  std::function<void(beast::error_code, size_t)> on_control;
  on_control = [&](beast::error_code ec, size_t) {
    if (ec) {
      ioc.stop();
      return;
    }
    control.async_read_some(net::buffer(&byte, 1), on_control);
  };
  control.async_read_some(net::buffer(&byte, 1), on_control);
  ioc.run();
  return 0;
}

} // namespace spry::transports::tcp
