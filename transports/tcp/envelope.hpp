#pragma once
// The tcp transport's wire format: a request's header fields and payload serialized with
// msgpack (a 17-element array, version first), sent as the body of one HTTP POST per hop. This is
// the serialization a shared-memory transport avoids; the baseline pays it on every hop on
// purpose.
//
// Frames come from another process: parse_envelope validates every field (types, lengths,
// sizes) and returns an error that says what was wrong instead of throwing.

#include "core/buffer_header.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"

#include <msgpack.hpp>

#include <string>
#include <string_view>

namespace spry::transports::tcp {

/// 2: the header's failed_at travels too (the 18th field).
inline constexpr unsigned envelope_version = 2;

struct envelope {
  core::endpoint_id dst = 0;
  core::buffer_header header{};  ///< every field but payload_length is meaningful
  std::string_view payload;      ///< points into the parsed frame (keep it alive)
};

/// Serializes the buffer's header and payload for endpoint `dst`.
std::string encode_envelope(core::endpoint_id dst, const core::buffer_header& h,
                            std::string_view payload);

/// Parses a frame. `keep` owns the memory `payload` points into.
core::expected<envelope> parse_envelope(std::string_view bytes, msgpack::object_handle& keep);

/// Writes a parsed envelope into a pool buffer of `capacity` payload bytes (the caller checked
/// that the payload fits). `home`: the buffer is a request's home at the gateway, locked for
/// this write (core/home_buffer.hpp): its request id is left for the caller to unlock.
void write_envelope(const envelope& e, core::buffer_header* b, bool home = false);

} // namespace spry::transports::tcp
