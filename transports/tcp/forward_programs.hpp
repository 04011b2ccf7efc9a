#pragma once
// The loader of bpf/xdp_tc_forward.bpf.c (tcp.xdp_tc_redirect: on): loads the programs once per
// node, attaches the TC one to the ingress of a pod's host-side veth (libbpf's TC hook API: a
// clsact qdisc, then a filter) and the XDP ones to the NIC and to the pod side of the gateway's
// veth, keeps the allow-list of ports the programs may redirect to, and reads the counters.
//
// Network namespaces: libbpf reaches devices through netlink in the calling thread's network
// namespace; every attach/detach call must run in the namespace where `ifindex` lives.
// Threads: not thread-safe; pod_network serialises every call.

#include "core/error.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace spry::transports::tcp {

/// Sums over CPUs of the programs' counters (bpf/forward_maps.h).
struct forward_counters {
  uint64_t redirected = 0;
  uint64_t pass_not_ipv4 = 0, pass_fragment = 0, pass_ttl = 0, pass_no_fib = 0,
           pass_no_neigh = 0, pass_foreign = 0;
  uint64_t passed() const {
    return pass_not_ipv4 + pass_fragment + pass_ttl + pass_no_fib + pass_no_neigh + pass_foreign;
  }
};

class forward_programs {
public:
  /// Loads the programs and maps; errors say what is missing (privilege, kernel support).
  static core::expected<std::unique_ptr<forward_programs>> load();
  ~forward_programs();
  forward_programs(const forward_programs&) = delete;
  forward_programs& operator=(const forward_programs&) = delete;

  enum class port_role {
    pod,         ///< a pod's host-side veth: TC redirects between pods reach it
    exposed_pod, ///< also the NIC's XDP redirects (its pod side must run attach_xdp_pass)
    nic,         ///< the NIC: TC redirects to it only from exposed pods (see tc_may_go)
  };
  /// Frames may be redirected to `ifindex` from now on. Caller's namespace: the kernel resolves
  /// the devmap's ifindex in it.
  core::status_or_error add_port(int ifindex, port_role role);
  void remove_port(int ifindex) noexcept;
  /// TC ingress of `ifindex` (a pod's host-side veth). Caller's namespace.
  core::status_or_error attach_tc(int ifindex);
  /// XDP of `ifindex` (the NIC). Caller's namespace.
  core::status_or_error attach_xdp(int ifindex);
  /// XDP_PASS on the pod side of a veth that receives XDP-redirected frames. Caller's namespace.
  core::status_or_error attach_xdp_pass(int ifindex);
  /// Removes the TC hook (clsact qdisc) or the XDP program from `ifindex`. Caller's namespace.
  void detach_tc(int ifindex) noexcept;
  void detach_xdp(int ifindex) noexcept;

  forward_counters counters() const;

private:
  struct skeleton;
  explicit forward_programs(skeleton* s) : skel_(s) {}
  skeleton* skel_;
};

} // namespace spry::transports::tcp
