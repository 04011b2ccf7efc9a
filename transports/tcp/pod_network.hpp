#pragma once
// Namespaces as pods and nodes (tcp.namespaces: true): what a CNI gives a pod in a cluster, on
// one machine. The gateway and every instance of the tcp transport run in a network namespace
// of their own ("pod"), joined to the root namespace by a veth pair; a "client node" namespace
// reaches the gateway through a veth that plays the node's NIC. The root namespace routes
// between them with a CNI-like iptables rule set on the path (conntrack, a FORWARD chain with
// filler policy rules, service DNAT and masquerade chains in nat), so the baseline pays what it
// pays between pods in a cluster.
//
// With `redirect` (tcp.xdp_tc_redirect: on) the forwarding programs of bpf/xdp_tc_forward.bpf.c
// sit at TC ingress of every pod's host-side veth and at XDP of the NIC: pod-to-pod and
// client-to-gateway frames skip the host's forwarding path and iptables.
//
// Names, per run of process PID (so runs side by side never collide, and leftovers of a run
// that was killed are recognised by its dead PID and swept at the next start):
//   namespaces  spry-PID-gateway, spry-PID-client, spry-PID-eENDPOINT
//   host veths  spPID-K (K: the pod's slot; the pod side is eth0 in its namespace)
//   iptables    chains SPRY-PID-FWD (filter), SPRY-PID-SVC and SPRY-PID-POST (nat)
//   addresses   10.213.S.0/24 for the run (S free at start), a /30 per pod: .4K+1 host side,
//               .4K+2 pod side; slot 0 is the gateway, 1 the client node
// Nothing outside those names and that range is touched, except the per-interface forwarding
// switch of our own veths.
//
// Threads: the owner may call from any thread, but not concurrently (the instance supervisor
// serialises open/close). Root-namespace work runs on a short-lived thread that enters the
// namespace the network was created in, so it works even after the caller moved into a pod.

#include "core/instance_network.hpp"
#include "transports/tcp/forward_programs.hpp"

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace spry::transports::tcp {

struct pod_network_options {
  bool redirect = false; ///< tcp.xdp_tc_redirect
};

class pod_network final : public core::instance_network {
public:
  /// Sweeps leftovers of dead runs, then creates the client node, the gateway pod and the
  /// iptables rules, and with `redirect` loads and attaches the programs. On failure nothing
  /// it created is left behind; errors say what was missing (root, iproute2, iptables, kernel).
  static core::expected<std::shared_ptr<pod_network>> create(const pod_network_options& opts);
  /// Removes every pod, the rules and the programs, in reverse order of creation.
  ~pod_network() override;
  pod_network(const pod_network&) = delete;
  pod_network& operator=(const pod_network&) = delete;

  /// Moves the calling thread into the gateway's pod: call it before the gateway starts any
  /// thread, so that all of them (and every socket they open) live there.
  core::status_or_error enter_gateway_pod();

  const std::string& gateway_ip() const noexcept { return gateway_.pod_ip; }
  const std::string& client_namespace() const noexcept { return client_.ns; }
  const std::string& client_ip() const noexcept { return client_.pod_ip; }
  bool redirect() const noexcept { return programs_ != nullptr; }
  /// The programs' counters (all zero when redirect is off).
  forward_counters counters() const;

  // -- core::instance_network ------------------------------------------------------------------
  core::expected<pod> open(core::endpoint_id endpoint) override;
  void close(core::endpoint_id endpoint) noexcept override;

  /// Removes namespaces, veths and iptables chains left by runs whose process is gone; returns
  /// one line per thing removed. Safe to call while other runs are alive.
  static std::vector<std::string> sweep();

private:
  struct pod_rec {
    unsigned slot = 0;
    std::string ns, host_veth, host_ip, pod_ip;
    int netns_fd = -1;
    int host_ifindex = 0;
    bool created = false;
  };
  explicit pod_network(const pod_network_options& opts);
  core::status_or_error start();
  core::status_or_error add_pod(pod_rec& p, const std::string& ns_name, unsigned slot);
  void remove_pod(pod_rec& p) noexcept;
  std::string ip_of(unsigned slot, unsigned host) const;

  pod_network_options opts_;
  pid_t pid_;
  int root_fd_ = -1;
  int slice_ = -1;
  bool rules_ = false;
  std::unique_ptr<forward_programs> programs_;
  pod_rec gateway_, client_;
  std::map<core::endpoint_id, pod_rec> pods_;
  std::vector<bool> slots_;
};

} // namespace spry::transports::tcp
