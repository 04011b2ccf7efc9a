#pragma once
// Decoding a msgpack frame that another process sent (the control channel, the tcp transport's
// envelope) without trusting the sizes it declares.
//
// Why: msgpack-c allocates an array's or map's element table from the count in its header,
// before reading any element, so a 5-byte frame declaring 2^32 elements makes the reader
// allocate ~100 GB (found by fuzz/control_channel_fuzz and fuzz/tcp_envelope_fuzz). Every
// element takes at least one byte, so no honest frame declares more elements than it has bytes:
// limiting counts to the frame's size refuses such frames before any allocation.

#include <msgpack.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace spry::core {

/// Nesting deeper than this is refused (no spry message nests more than three levels).
inline constexpr std::size_t msgpack_max_depth = 16;

/// Limits for unpacking a frame of `size` bytes: no container, string or binary larger than
/// the frame itself, and at most msgpack_max_depth levels.
inline msgpack::unpack_limit frame_limits(std::size_t size) {
  return msgpack::unpack_limit(size, size / 2, size, size, size, msgpack_max_depth);
}

/// msgpack::unpack with frame_limits(). Throws std::runtime_error (msgpack::unpack_error) on a
/// malformed frame; an over-large declared size says so ("declares more ... than it has").
inline msgpack::object_handle unpack_frame(const char* data, std::size_t size,
                                           msgpack::unpack_reference_func reference = nullptr) {
  try {
    return msgpack::unpack(data, size, reference, nullptr, frame_limits(size));
  } catch (const msgpack::depth_size_overflow&) {
    throw msgpack::unpack_error("nested deeper than " + std::to_string(msgpack_max_depth) +
                                " levels");
  } catch (const msgpack::size_overflow&) {
    throw msgpack::unpack_error("a container or string declares more elements than the " +
                                std::to_string(size) + "-byte frame has");
  }
}

} // namespace spry::core
