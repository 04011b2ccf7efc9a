#pragma once
// The data link between the nodes of a cluster: cross-node hops over TCP.
//
// Inside a node a request moves by descriptor on the app's transport (zero copies). When the
// function it needs next runs only on other nodes, the gateway hands it to this link
// (gateway::remote_hops): the link writes the buffer's header and payload to a node that runs the
// function (straight from the pool buffer, gather I/O), the receiving node reads the payload
// straight into a buffer of its own pool (the one copy) and continues the chain there on its own
// transport; the result travels back, hop by hop, to the node the request entered at, which
// answers the client.
//
// Connections: one outbound TCP connection per peer node, opened on first use, carrying this
// node's requests and their results; inbound connections from peers carry theirs. A connection
// starts with a hello that presents the cluster's link secret (which the controller hands to
// members over mutual TLS): a peer without it is refused before any request is read.
//
// Faults: when an outbound connection fails, every request waiting on that node is answered 502
// at once (gateway::fail_remote) and the next request reconnects; inbound requests whose chain
// does not finish within the chain's timeout are answered 504 to the sender, so no buffer waits
// forever on either side.
//
// Threads: one I/O thread of its own. forward()/runs_elsewhere() from any thread; update()
// and set_secret() from the node agent.

#include "cluster/messages.hpp"
#include "core/error.hpp"
#include "gateway/remote_hops.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace spry::gateway {
class gateway;
}

namespace spry::cluster {

struct node_link_options {
  std::string host = "127.0.0.1"; ///< where peers connect (this node's address)
  uint16_t port = 0;              ///< 0 picks a free port
  std::string node_name;
};

class node_link : public gateway::remote_hops {
public:
  static core::expected<std::unique_ptr<node_link>> start(gateway::gateway& gw,
                                                          node_link_options opts);
  ~node_link() override;
  node_link(const node_link&) = delete;
  node_link& operator=(const node_link&) = delete;

  /// HOST:PORT peers connect to.
  std::string address() const;
  /// The secret peers must present (and this node presents); empty refuses every peer.
  void set_secret(std::string secret);
  /// The cluster's directory: which peers run which function. Peers gone from it (or no longer
  /// alive) are disconnected and their waiting requests failed.
  void update(const cluster_view& view, const std::string& self_name);
  /// Stops the I/O thread and closes every connection; requests waiting on peers are failed.
  void stop();

  // -- gateway::remote_hops --------------------------------------------------------------------
  bool runs_elsewhere(core::function_id f) const noexcept override;
  bool coming(core::function_id f) const noexcept override;
  core::endpoint_id forward(core::function_id f, const core::buffer_header& b,
                            gateway::remote_ref ref,
                            std::atomic<core::endpoint_id>& holder) noexcept override;

  struct counters {
    uint64_t hops_out = 0;      ///< requests sent to other nodes
    uint64_t hops_in = 0;       ///< requests other nodes sent here
    uint64_t results_in = 0;    ///< results that came back
    uint64_t link_failures = 0; ///< outbound connections lost or refused
    uint64_t refused_peers = 0; ///< inbound connections refused (no or wrong secret)
    uint64_t bad_frames = 0;    ///< malformed frames (the connection is closed)
  };
  counters stats() const noexcept;
  /// Prometheus text: per-peer hop counters and the totals above.
  std::string metrics_text() const;

  struct impl;

private:
  explicit node_link(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace spry::cluster
