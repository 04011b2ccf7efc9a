#pragma once
// The wire format of the data link between nodes (node_link.hpp): every message is one fixed
// 40-byte frame header followed by `length` bytes.
//
//   hello    (first frame of a connection, connecting side) body: "SECRET\nNODE-NAME"
//   request  body: the request's 256-byte buffer_header, then payload_length bytes of payload;
//            the receiver continues the request at `function`, copying the payload once, straight
//            from the socket into a buffer of its own pool
//   result   body: msgpack [http_status, content_type, body, retry_after_s, topic, [[k, v]...]]
//            the answer for (chain, slot, request_id) of the request the sender got
//
// Little-endian (every node of a cluster runs the same build on x86-64 or arm64; spry refuses a
// node of another version at join, so both ends share this layout).

#include "core/buffer_header.hpp"

#include <cstdint>
#include <type_traits>

namespace spry::cluster {

inline constexpr uint32_t link_magic = 0x4c525053; // "SPRL"
inline constexpr uint16_t link_version = 1;
/// No frame body is larger (a request's is at most 256 bytes + the pool's buffer size).
inline constexpr uint32_t link_max_body = 64u << 20;

enum class link_kind : uint16_t { hello = 1, request = 2, result = 3 };

struct link_frame {
  uint32_t magic;
  uint16_t version;
  uint16_t kind;        ///< link_kind
  uint32_t length;      ///< body bytes after this header
  uint16_t function;    ///< request: the function it continues at
  uint16_t chain;       ///< request and result: the chain (pool) of the sender's slot
  uint64_t slot;        ///< the sender's slot, echoed in the result
  uint64_t request_id;  ///< the sender's request id, echoed in the result
  uint64_t reserved;
};
static_assert(sizeof(link_frame) == 40, "link frame header is a fixed 40-byte wire struct");
static_assert(std::is_trivially_copyable_v<link_frame>);
static_assert(sizeof(core::buffer_header) == 256);

} // namespace spry::cluster
