#pragma once
// The tcp transport's client side: messages queued per peer endpoint and sent as HTTP/1.1 POSTs
// over keep-alive connections (tcp_transport.hpp). A connection reports each message's end to its
// owner, which decides what comes next (the next queued message, or failing the request back to
// the gateway).
//
// Threads: everything here runs on the transport's I/O thread, except peer::in_flight.

#include "core/ids.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace spry::transports::tcp {

/// One message on its way to a peer.
struct outgoing {
  std::string body; ///< the envelope
  core::endpoint_id dst;
  core::chain_id chain;
  uint64_t request_id;
  uint64_t home_offset;
  bool home_kept; ///< the gateway kept the home buffer in this process
};

class client_conn;

/// A peer endpoint as this process sends to it: its address, its queue and its connections.
struct peer {
  core::endpoint_id id;
  std::string host;
  uint16_t port = 0;
  std::string target;                 ///< prefix + deliver_path
  std::atomic<uint32_t> in_flight{0}; ///< queued or awaiting an answer; any thread
  // -- io thread only --
  std::deque<outgoing> queue;
  std::vector<std::shared_ptr<client_conn>> idle;
  std::vector<std::weak_ptr<client_conn>> all;
  unsigned open = 0;
  bool removed = false;
};

/// How far a message that did not get through got: what the transport may do with it.
enum class send_failure {
  not_sent,   ///< no connection, not written whole, or 404 (endpoint not served there): the
              ///< peer did not take it
  unanswered, ///< written whole, then the connection broke: the peer may have started on it
  refused,    ///< the peer answered with an error status
  overloaded, ///< the peer answered 503
};

/// Who a connection reports to (the transport). Called on the I/O thread; must not block.
class client_owner {
public:
  virtual ~client_owner() = default;
  /// The peer took the message (204), or the gateway no longer waits for it (410): `c` is free
  /// for the next message.
  virtual void sent_ok(peer& p, std::shared_ptr<client_conn> c) = 0;
  /// The message did not get through (`why`: connect/write/read error or the peer's answer;
  /// `how`: how far it got). The connection is closed; `msg` has its body back.
  virtual void send_failed(peer& p, outgoing msg, const std::string& why, send_failure how) = 0;
};

/// A keep-alive client connection to one peer; one message at a time. Owned by shared_ptr
/// (its handlers keep it alive); runs on the io thread only.
class client_conn : public std::enable_shared_from_this<client_conn> {
public:
  client_conn(boost::asio::io_context& ioc, client_owner& owner, std::shared_ptr<peer> p)
    : stream_(ioc), owner_(owner), peer_(std::move(p)) {}
  /// Sends `msg` (connecting first if needed); the owner hears how it ended.
  void start(outgoing msg);
  void close();

private:
  void write();
  void on_response(boost::beast::error_code ec);
  void fail(const std::string& why, send_failure how);

  boost::beast::tcp_stream stream_;
  client_owner& owner_;
  std::shared_ptr<peer> peer_;
  std::optional<outgoing> msg_;
  boost::beast::http::request<boost::beast::http::string_body> req_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> res_;
  bool connected_ = false;
};

} // namespace spry::transports::tcp
