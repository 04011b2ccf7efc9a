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

/// A connected pair on 127.0.0.1: the one make_socket_pair_ahead() made, if it is still there,
/// else a new one (an ephemeral listener, closed again). Thread-safe.
core::expected<socket_pair> make_socket_pair();

/// Makes one pair now and keeps it for the next make_socket_pair() (once): a spare instance
/// process (prepare_spare) pays for socket, bind, listen, connect and accept before it is asked.
/// The pair sits idle until taken (an established loopback connection costs no CPU) and is
/// closed with the process if never taken. Its descriptors are numbered from
/// core::spare_fd_floor up. Does nothing if one is kept already or on failure
/// (make_socket_pair then makes one, and reports the error). Thread-safe.
void make_socket_pair_ahead();

} // namespace spry::transports::skmsg
