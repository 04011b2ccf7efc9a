#include "transports/tcp/tcp_server.hpp"

#include "core/data_path_counters.hpp"
#include "transports/tcp/tcp_transport.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <memory>
#include <optional>

namespace spry::transports::tcp {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using btcp = net::ip::tcp;

class server_session : public std::enable_shared_from_this<server_session> {
public:
  server_session(btcp::socket s, frame_receiver& owner) : stream_(std::move(s)), owner_(owner) {}

  void read() {
    parser_.emplace();
    parser_->body_limit(owner_.body_limit());
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->on_read(ec);
                     });
  }

private:
  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return respond(http::status::payload_too_large, "frame larger than any buffer", false);
    if (ec) {
      if (ec != http::error::end_of_stream && ec != net::error::operation_aborted &&
          ec != net::error::connection_reset && ec.category() == http::make_error_code(http::error::bad_target).category())
        return respond(http::status::bad_request, "malformed HTTP: " + ec.message(), false);
      beast::error_code ignored;
      stream_.socket().shutdown(btcp::socket::shutdown_both, ignored);
      return;
    }
    auto& req = parser_->get();
    const bool keep = req.keep_alive();
    if (req.method() != http::verb::post || req.target() != deliver_path)
      return respond(http::status::not_found, "only POST " + std::string(deliver_path), keep);
    // For the overhead audit: the frame came out of the kernel into the read buffer, and the
    // parser copied it from there into the request body.
    core::data_path::count(core::data_path::site::chain, core::data_path::event::copy, 2);
    auto [status, why] = owner_.receive(req.body());
    respond(status, why, keep);
  }

  void respond(http::status status, std::string why, bool keep) {
    res_ = {};
    res_.version(11);
    res_.result(status);
    res_.keep_alive(keep);
    if (!why.empty()) {
      res_.set(http::field::content_type, "text/plain");
      res_.body() = std::move(why);
    }
    res_.prepare_payload();
    core::data_path::count(core::data_path::site::chain, core::data_path::event::protocol_message);
    http::async_write(stream_, res_, [self = shared_from_this(), keep](beast::error_code ec, size_t) {
      if (ec || !keep) {
        beast::error_code ignored;
        self->stream_.socket().shutdown(btcp::socket::shutdown_both, ignored);
        return;
      }
      self->read();
    });
  }

  beast::tcp_stream stream_;
  frame_receiver& owner_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
};

} // namespace

void serve(btcp::socket s, frame_receiver& receiver) {
  std::make_shared<server_session>(std::move(s), receiver)->read();
}

} // namespace spry::transports::tcp
