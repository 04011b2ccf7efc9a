#pragma once
// tcp.front_end: nginx — a real nginx (Debian package) as the front-end proxy on every hop, as
// in the published Knative comparison: endpoint N is advertised as
// http://127.0.0.1:NGINX_PORT/ep/N/, which nginx proxies (keep-alive upstreams) to N's socket.
// spry writes the config into a private directory, starts nginx in the foreground with
// PR_SET_PDEATHSIG, waits until it accepts connections, and stops it by PID on shutdown.

#include "core/transport_registry.hpp"

namespace spry::transports::tcp {

/// Starts nginx when the app's tcp.front_end is "nginx"; null otherwise.
core::expected<std::unique_ptr<core::front_end>>
make_nginx_front_end(const core::app_spec& app,
                     const std::vector<std::pair<core::endpoint_id, std::string>>& sockets);

} // namespace spry::transports::tcp
