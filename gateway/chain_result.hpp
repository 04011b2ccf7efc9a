#pragma once
// What the client gets back for a request, and how the gateway reads it out of a returned pool
// buffer. The buffer was written by other processes (every function of the chain), so
// result_of() treats each header field as untrusted; the descriptor fuzzer
// (fuzz/descriptor_fuzz.cpp) drives it with arbitrary headers.

#include "core/buffer_header.hpp"
#include "core/pool.hpp"

#include <cstdint>
#include <string>
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
/// never reads past the buffer, whatever its header says.
chain_result result_of(const core::buffer_header* b, const core::pool& p, uint64_t request_id);

} // namespace spry::gateway
