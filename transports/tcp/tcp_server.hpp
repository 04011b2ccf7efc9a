#pragma once
// The tcp transport's server side: one HTTP/1.1 session per accepted connection, each frame a
// POST to deliver_path handed to the receiver, answered 204 or with the receiver's error status
// and reason. Keep-alive; a frame larger than the receiver's body limit is answered 413 and the
// connection closed.
//
// Threads: sessions run on the I/O thread of the socket's io_context.

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/status.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace spry::transports::tcp {

/// What a session hands each frame to (the transport). Called on the I/O thread.
class frame_receiver {
public:
  virtual ~frame_receiver() = default;
  /// Takes one frame: 204 (no_content) when accepted, or an HTTP error status with the reason.
  virtual std::pair<boost::beast::http::status, std::string> receive(std::string_view body) = 0;
  /// Largest frame accepted, in bytes.
  virtual size_t body_limit() const noexcept = 0;
};

/// Serves `s` until the peer closes it or a frame fails; `receiver` must outlive the socket's
/// io_context run (the session keeps itself alive through its handlers).
void serve(boost::asio::ip::tcp::socket s, frame_receiver& receiver);

} // namespace spry::transports::tcp
