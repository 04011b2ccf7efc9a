#pragma once
// The `tcp:` section of the app file: the tcp transport's own settings, parsed, checked and read
// here only (core keeps them as an opaque transport_config).
//
//   tcp: { sidecar: false, front_end: none, connections_per_peer: 8,
//          namespaces: false, xdp_tc_redirect: off }
//
// In C++: `tcp::tcp_config t; t.sidecar = true; app.configure(t);`.

#include "core/app_spec.hpp"
#include "core/config_section.hpp"
#include "core/transport_config.hpp"

#include <memory>
#include <string>

namespace spry::transports::tcp {

/// transport: tcp — the Knative-like baseline.
struct tcp_config final : core::transport_config {
  static constexpr const char* key = "tcp";

  bool sidecar = false;            ///< a queue-proxy process in front of every instance
  std::string front_end = "none";  ///< "nginx": every hop goes through a real nginx
  unsigned connections_per_peer = 8;
  /// Namespaces as pods: the gateway and every instance run in a network namespace of their
  /// own, joined to the root namespace by a veth pair, behind a CNI-like iptables rule set; a
  /// client node namespace reaches the gateway through a NIC-like veth. Needs root.
  bool namespaces = false;
  /// eBPF forwarding between those namespaces (TC ingress on the pods' host-side veths, XDP on
  /// the NIC): FIB lookup + redirect instead of the host's forwarding path and iptables.
  /// Needs namespaces.
  bool xdp_tc_redirect = false;

  std::string section() const override { return key; }
  std::unique_ptr<core::transport_config> clone() const override;
  std::string dump() const override;
};

/// The app's tcp settings, or the defaults when it has no `tcp:` section.
const tcp_config& tcp_config_of(const core::app_spec& app);

/// What is wrong with `c` as part of `app` (front_end, namespaces with a sidecar or a front end,
/// sidecar or front end on another transport), with the section's file:line; fine otherwise.
core::status_or_error check_tcp_config(const tcp_config& c, const core::app_spec& app);

/// The `tcp:` section for the transport registry: parser and check.
core::config_section tcp_config_section();

} // namespace spry::transports::tcp
