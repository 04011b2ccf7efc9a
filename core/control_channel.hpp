#pragma once
// The control channel between the node agent (gateway process) and one instance process: a
// Unix stream socket (one end of a socketpair made before fork), carrying length-prefixed
// msgpack frames. EOF on it is how each side learns, at once, that the other is gone.
//
//   instance -> agent   ready {endpoint, address}      the instance serves; traffic may start
//   agent -> instance   peers {(endpoint, address)*}   where every endpoint is now
//   agent -> instance   directory {endpoints per fn}   which instances serve each function
//   agent -> instance   stop                           shut down cleanly
//   instance -> agent   applied {version}              the directory of that version is in use
//
// Frames come from another process: decode() validates and reports what was wrong.

#include "core/error.hpp"
#include "core/ids.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spry::core {

struct control_message {
  enum class kind : uint8_t { ready, peers, directory, stop, applied };
  kind type = kind::stop;
  endpoint_id endpoint = no_endpoint;                       // ready
  std::string address;                                      // ready
  std::vector<std::pair<endpoint_id, std::string>> peers;   // peers
  std::vector<std::vector<endpoint_id>> directory;          // directory
  uint64_t version = 0;                                     // directory, applied
};

/// Encodes a message as one frame (4-byte big-endian length + msgpack body).
std::string encode_control(const control_message& m);

/// Accumulates bytes read from the socket and yields complete, validated messages.
class control_reader {
public:
  /// Largest frame accepted; a peer announcing more is broken or hostile.
  static constexpr uint32_t max_frame = 1 << 20;

  void feed(const char* data, size_t n) { buf_.append(data, n); }
  /// The next message, nullopt when more bytes are needed, or an error for a bad frame (the
  /// channel is then unusable: close it).
  std::optional<expected<control_message>> next();

private:
  std::string buf_;
};

/// Writes a whole frame to a blocking or non-blocking socket (retries EINTR/EAGAIN briefly).
/// `pass_fd` >= 0 travels with it as SCM_RIGHTS. false if the peer is gone.
bool write_control(int fd, const control_message& m, int pass_fd = -1);

/// Writes frames already encoded (encode_control(), one or several back to back) as
/// write_control() does: one message encoded once can go to many instances, and two frames
/// for one instance leave in one system call.
bool write_control_frames(int fd, std::string_view frames, int pass_fd = -1);

/// Reads what is available from a non-blocking control socket into `reader`, collecting file
/// descriptors passed with SCM_RIGHTS into `fds`. Returns false on EOF or error.
bool read_control_socket(int fd, control_reader& reader, std::vector<int>& fds);

} // namespace spry::core
