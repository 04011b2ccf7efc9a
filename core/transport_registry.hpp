#pragma once
// Transports by config name. Registration is explicit: transports/register.cpp calls each
// transport's register function from one place (no static initialisers, which a static library
// silently drops). The registry is what `transport: NAME` in the app file looks up, and where
// the app file reader finds the transports' own sections (`tcp:`, `dpdk:`).

#include "core/config_section.hpp"
#include "core/error.hpp"
#include "core/front_end.hpp"
#include "core/hop_measurement.hpp"
#include "core/sidecar.hpp"
#include "core/transport.hpp"

#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <memory>
#include <string>
#include <vector>

namespace caf {
class actor_system;
}

namespace spry::core {

class pool;
struct app_spec;
class node_preparation;

/// What a transport gets when it is created for a process.
struct transport_context {
  caf::actor_system* system = nullptr;
  /// This process's pools by chain id (copying transports decode into them). May be null for
  /// transports that only move descriptors.
  std::vector<pool>* pools = nullptr;
  /// The app, for transport-specific settings (read during the factory call only); null in
  /// tests that run a bare transport.
  const app_spec* app = nullptr;
  /// Listening sockets opened for endpoints of this process by the node agent, by endpoint id
  /// (tcp: kept across instance restarts so the address never changes). Taken over on bind.
  std::unordered_map<endpoint_id, int> listen_fds;
  /// true in an instance process, false in the gateway (node) process: some transports set up
  /// node-wide resources (eBPF maps) only once, in the node.
  bool instance_role = false;
  /// Instance role: what the node's transport returned from instance_parameters().
  std::string node_parameters;
  /// Instance role: the node transport's instance_fd(), inherited by this process (-1: none).
  int node_fd = -1;
  /// Endpoint ids are 0..max_endpoints-1.
  uint32_t max_endpoints = 4096;
  /// Per-endpoint queue bound (descriptors sent and not yet consumed) before backpressure.
  uint32_t queue_capacity = 65536;
};

using transport_factory =
  std::function<expected<std::unique_ptr<transport>>(const transport_context&)>;

class transport_registry {
public:
  struct entry {
    std::string name;
    std::string description; ///< one line: what it is and what it needs (root, hugepages, ...)
    transport_factory factory;
    /// true: instances are actors in the gateway process (local). false: every instance is its
    /// own OS process started by the node agent.
    bool in_process_instances = false;
    /// true: the node agent opens each instance's listening socket and passes it down, so an
    /// instance's address survives its restarts (tcp).
    bool listen_socket_per_endpoint = false;
    /// Optional: a proxy process between endpoints (needs listen_socket_per_endpoint).
    front_end_factory front_end;
    /// Optional: whether the app asks for a sidecar process in front of each instance
    /// (tcp.sidecar); the sidecar is this program re-run in the role `sidecar` describes,
    /// handled by the transport's own role_main. Null: never.
    std::function<bool(const app_spec&)> sidecars;
    /// The transport's sidecar (needed when `sidecars` can say yes): its name and how it is
    /// told its role.
    sidecar_kind sidecar;
    /// Routing when the app sets no `routing:`: broker (every result back to the gateway, the
    /// Knative-like path) instead of direct.
    bool broker_routing_by_default = false;
    /// Optional: if this process was started in one of the transport's own roles (a sidecar),
    /// runs it and returns the exit code; nullopt otherwise.
    std::function<std::optional<int>()> role_main;
    /// true: instance processes map the gateway's pools (shared memory) instead of making their
    /// own; the node agent passes the pool fds down at start.
    bool shared_pools = false;
    /// Optional: what this machine lacks for the transport to run ("no free 2 MB hugepages"),
    /// or empty. Tests that need the transport skip with this reason; the factory still fails
    /// with its own message.
    std::function<std::string()> missing_requirement;
    /// Optional: prepares the node for the app before the gateway starts (tcp.namespaces: pods).
    /// Called once, in the gateway process only (spry run, spry::gateway::run), on its only
    /// thread before it starts any other: it may move that thread into a namespace, may block,
    /// and may change where the gateway listens (`app.gateway`). Returns null when the app asks
    /// for nothing; what it returns lives until the gateway has stopped.
    std::function<expected<std::unique_ptr<node_preparation>>(app_spec& app)> prepare_node;
    /// Optional: measures the bare primitive under the transport's hop and the transport's own
    /// hop, each between two processes, `round_trips` times (benchmarks only; it may start a
    /// child process, which it reaches through role_main).
    std::function<expected<std::vector<hop_measurement>>(unsigned round_trips)> measure_hops;
    /// Optional: work an instance process of this transport can do before it knows its function
    /// or endpoint; what it makes is kept for the factory or bind() to take (threads parked with
    /// park_spare_threads, a socket made ahead). Called once in each spare instance process
    /// (`instances: {start: fork}`, instance_template.hpp) before it waits, on its main thread,
    /// in the gateway's network namespace (not called when instances enter their own); may
    /// block briefly. Whatever it makes must use no CPU while the spare waits, and an instance
    /// that never takes it must work the same; descriptors it keeps must be numbered from
    /// spare_fd_floor up (instance_template.hpp says why).
    std::function<void()> prepare_spare;
  };

  /// Errors if the name is taken.
  status_or_error add(entry e);
  const entry* find(const std::string& name) const;
  /// Creates `name`; unknown names list the registered ones.
  expected<std::unique_ptr<transport>> create(const std::string& name,
                                              const transport_context& ctx) const;
  std::vector<const entry*> entries() const;

  // -- app file sections -------------------------------------------------------------------------
  /// Registers a transport's section of the app file; errors if the key is taken or the section
  /// has no parser.
  status_or_error add_section(config_section s);
  const config_section* find_section(const std::string& key) const;
  /// Every registered section, by key.
  std::vector<const config_section*> sections() const;

private:
  std::map<std::string, entry> entries_;
  std::map<std::string, config_section> sections_;
};

} // namespace spry::core
