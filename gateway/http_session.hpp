#pragma once
// One HTTP/1.1 connection of the gateway, from its first byte to its close: reads a request head
// under the header timeout (later ones under the keep-alive idle timeout), refuses what
// http_request.hpp refuses (400 without Host, 413 naming the limit that applied, 404, 405),
// answers the reserved paths (/healthz, /metrics, /status, /admin/...), reads the body straight
// into the chain's pool buffer (the only user-space copy on the way in), runs the chain (through
// the chain's protocol adapter if it has one) and writes its answer (503 + Retry-After when the
// pool is exhausted, 504 past the chain's deadline). One request at a time per connection, so
// pipelined requests are answered in order; a connection with an unread body after an early
// answer is closed.
//
// Runs on the one I/O thread of the io_context its socket belongs to (one io_context per I/O
// thread, so no strand: handlers of a connection never run concurrently, and every socket,
// timer and post uses the io_context's own executor type instead of the type-erased
// any_io_executor, whose copies and prefer() calls showed in profiles of the hot path). It
// never blocks that thread (the chain's answer comes back through the gateway and is posted to
// it).

#include "core/app_spec.hpp"

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <cstdint>
#include <memory>

namespace spry::gateway {

class gateway;

/// A connection's socket, bound to the io_context of the I/O thread that serves it.
using session_socket =
  boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

/// Serves `socket` on its io_context's thread until the connection closes. `connections` counts open connections: one more while this one lives. `gw` and
/// `spec` must outlive the connection (the http_server stops its io_context before either goes).
void serve_connection(session_socket&& socket, gateway& gw,
                      const core::gateway_spec& spec,
                      std::shared_ptr<std::atomic<uint64_t>> connections);

} // namespace spry::gateway
