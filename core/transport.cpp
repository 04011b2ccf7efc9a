#include "core/transport.hpp"

namespace spry::core {

const char* to_string(send_status s) noexcept {
  switch (s) {
    case send_status::ok:
      return "ok";
    case send_status::backpressure:
      return "backpressure";
    case send_status::unknown_endpoint:
      return "unknown endpoint";
    case send_status::closed:
      return "closed";
    case send_status::invalid:
      return "invalid descriptor";
  }
  return "?";
}

} // namespace spry::core
