#pragma once
// What the client gets back for a request, and how the gateway reads it out of a returned pool
// buffer. The buffer was written by other processes (every function of the chain), so
// result_of() treats each header field as untrusted; the descriptor fuzzer
// (fuzz/descriptor_fuzz.cpp) drives it with arbitrary headers.

#include "core/buffer_header.hpp"
#include "core/buffer_lease.hpp"
#include "core/pool.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spry::gateway {

/// What the client gets back.
struct chain_result {
  uint16_t http_status = 200;
  std::string content_type;
  std::string body;
  uint32_t retry_after_s = 0; ///< set with 503
  uint64_t request_id = 0;
  std::string topic; ///< the topic the chain's last function left (MQTT replies may use it)
  std::vector<std::pair<std::string, std::string>> headers; ///< extra response headers (adapters)
  /// The body still in its pool buffer, for a caller that asked for it (HTTP without an
  /// adapter writes the answer straight from there): `body` is empty then, and the lease
  /// returns the buffer to its pool when the caller is done with the result.
  core::buffer_lease in_buffer;
  uint32_t in_buffer_length = 0;

  /// The body, wherever it is.
  std::string_view body_view() const noexcept {
    return in_buffer ? std::string_view(in_buffer.payload(), in_buffer_length)
                     : std::string_view(body);
  }
  /// Copies a body held in its pool buffer into `body` and lets the buffer go (for code that
  /// needs the body as a string, such as an adapter's egress).
  void take_body() {
    if (!in_buffer)
      return;
    body.assign(in_buffer.payload(), in_buffer_length);
    in_buffer.reset();
    in_buffer_length = 0;
  }
  /// The cold start this request paid: how long the gateway held it waiting for an instance of
  /// a function at zero (summed if held more than once). 0: never held. HTTP answers carry it
  /// as the `Spry-Cold-Start-Ms` header.
  uint64_t cold_start_ns = 0;
};

/// The `Spry-Cold-Start-Ms` header's value for `ns` held: milliseconds with one decimal.
std::string cold_start_ms(uint64_t ns);

/// A text/plain result (a newline is appended to a non-empty body that lacks one).
chain_result make_result(uint16_t status, std::string body, uint64_t request_id = 0);

/// The client's answer from buffer `b` of pool `p`, which the gateway holds for `request_id`:
/// never reads past the buffer, whatever its header says. `keep`: a successful answer's body
/// is not copied; the result takes `b` over instead (in_buffer, returned to `p` with the
/// result). Otherwise (and for every failure) the body is copied and `b` stays the caller's.
/// Whether it took the buffer: `in_buffer` of the result.
chain_result result_of(core::buffer_header* b, core::pool& p, uint64_t request_id,
                       bool keep = false);

} // namespace spry::gateway
