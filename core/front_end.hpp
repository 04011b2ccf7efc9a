#pragma once
// A proxy process between endpoints, a transport's option (registered as its entry's front_end,
// transport_registry.hpp): the node agent starts it once the instances' listening sockets exist,
// and peers then reach each endpoint through it.

#include "core/error.hpp"
#include "core/ids.hpp"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace spry::core {

struct app_spec;

/// A process in front of every instance (tcp: nginx), started by the node agent once the
/// instances' listening sockets exist. It decides the address other endpoints use for each.
class front_end {
public:
  virtual ~front_end() = default;
  /// The address peers use to reach `endpoint`, whose own socket is at `address`.
  virtual std::string advertised(endpoint_id endpoint, const std::string& address) const = 0;
};

/// Starts the front end for these (endpoint, listening address) pairs, or returns null when the
/// app does not ask for one.
using front_end_factory = std::function<expected<std::unique_ptr<front_end>>(
  const app_spec&, const std::vector<std::pair<endpoint_id, std::string>>&)>;

} // namespace spry::core
