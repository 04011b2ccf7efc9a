#pragma once
// The socket an shm-skmsg endpoint owns: one end of an established loopback TCP connection (the
// sockmap takes only established TCP sockets). `mine` goes into the sockmap and is read by the
// endpoint's receiver; `other` keeps the connection established and receives what the sk_msg
// program could not redirect (it passes such a message on to the sender's peer: a bounce).

#include "core/error.hpp"

namespace spry::transports::skmsg {

struct socket_pair {
  int mine = -1;  ///< non-blocking, TCP_NODELAY
  int other = -1;
};

/// A new connected pair on 127.0.0.1 (an ephemeral listener, closed again).
core::expected<socket_pair> make_socket_pair();

} // namespace spry::transports::skmsg
