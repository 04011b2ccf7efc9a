#include "transports/tcp/tcp_client.hpp"

#include "core/data_path_counters.hpp"

#include <boost/asio/ip/tcp.hpp>

namespace spry::transports::tcp {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using btcp = net::ip::tcp;

void client_conn::start(outgoing msg) {
  msg_ = std::move(msg);
  req_ = {};
  req_.method(http::verb::post);
  req_.target(peer_->target);
  req_.version(11);
  req_.set(http::field::host, peer_->host);
  req_.set(http::field::content_type, "application/msgpack");
  req_.body() = std::move(msg_->body);
  req_.keep_alive(true);
  req_.prepare_payload();
  if (connected_)
    return write();
  beast::error_code ec;
  const auto addr = net::ip::make_address(peer_->host, ec);
  if (ec)
    return fail("bad peer address " + peer_->host, send_failure::not_sent);
  stream_.async_connect(btcp::endpoint{addr, peer_->port},
                        [self = shared_from_this()](beast::error_code ec) {
                          if (ec)
                            return self->fail("connect: " + ec.message(), send_failure::not_sent);
                          self->connected_ = true;
                          self->stream_.socket().set_option(btcp::no_delay(true), ec);
                          self->write();
                        });
}

void client_conn::close() {
  beast::error_code ignored;
  stream_.socket().close(ignored);
}

void client_conn::write() {
  http::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
    // Not written whole: the peer's server delivers only a complete request, so it never got it.
    if (ec)
      return self->fail("write: " + ec.message(), send_failure::not_sent);
    // For the overhead audit: one HTTP message through the stack, its frame copied into the kernel.
    using namespace core::data_path;
    count(site::chain, event::protocol_message);
    count(site::chain, event::copy);
    self->res_.emplace();
    http::async_read(self->stream_, self->buffer_, *self->res_,
                     [self](beast::error_code ec, size_t) { self->on_response(ec); });
  });
}

void client_conn::on_response(beast::error_code ec) {
  if (ec)
    return fail("read: " + ec.message(), send_failure::unanswered); // it may have started on it
  const auto status = res_->get().result();
  if (status == http::status::no_content) {
    msg_.reset();
    req_.body().clear();
    if (!res_->get().keep_alive())
      connected_ = false, close();
    owner_.sent_ok(*peer_, shared_from_this());
    return;
  }
  if (status == http::status::gone) { // the gateway gave up on it: nothing to fail back
    msg_.reset();
    owner_.sent_ok(*peer_, shared_from_this());
    return;
  }
  // 404: the endpoint is not served there (not bound yet, or gone): it took nothing.
  fail("HTTP " + std::to_string(res_->get().result_int()) + " " + res_->get().body(),
       status == http::status::service_unavailable ? send_failure::overloaded
       : status == http::status::not_found         ? send_failure::not_sent
                                                   : send_failure::refused);
}

void client_conn::fail(const std::string& why, send_failure how) {
  close();
  connected_ = false;
  outgoing m = std::move(*msg_);
  msg_.reset();
  // The body moved into the request; the failure path may need to decode it again.
  m.body = std::move(req_.body());
  owner_.send_failed(*peer_, std::move(m), why, how);
}

} // namespace spry::transports::tcp
