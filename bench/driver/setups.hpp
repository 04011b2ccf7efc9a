#pragma once
// The setups a benchmark compares: a transport and the settings that make it what its name says.
// The same app file runs in every setup; only these keys change.
//
//   local       every instance an actor in the gateway process (the floor of a hop's cost)
//   shm-skmsg   shared memory, descriptors by eBPF sk_msg, event-driven (SPRIGHT's S-SPRIGHT)
//   shm-dpdk    shared memory, descriptors on DPDK rings, polling (SPRIGHT's D-SPRIGHT) with the
//               app's dpdk.idle: adaptive by default (pollers sleep in the kernel when quiet)
//   shm-dpdk-yield  shm-dpdk whose pollers never sleep but yield their core between empty polls
//   shm-dpdk-spin  shm-dpdk whose pollers never yield (dpdk.idle: spin): the lowest hop when every
//               poller has a core of its own, a time slice per hop when they do not
//   tcp         the Knative-like baseline: msgpack over HTTP per hop, every result back through
//               the gateway (broker), a queue-proxy sidecar in front of every instance
//   tcp-broker-sidecar  the same as tcp (the name transport_bench has always used)
//   tcp-broker  tcp with the broker, without sidecars
//   tcp-direct  tcp, instances call the next function themselves, no sidecars
//   tcp-nginx   tcp-direct with sidecars and every hop through a real nginx
//
// A name may end in @POLICY to use that load balancer instead of the app's (tcp@least_connections).

#include "core/error.hpp"

#include <string>
#include <vector>

namespace spry::bench {

struct setup {
  std::string name;        ///< as asked, e.g. "tcp" or "shm-skmsg@least_connections"
  std::string transport;   ///< registry name
  std::string routing;     ///< "direct", "broker" or "" (the transport's default)
  bool sidecar = false;
  std::string front_end = "none";
  std::string load_balancer; ///< "" = the app's
  std::string description;
  std::string dpdk_idle; ///< shm-dpdk only: "" = the app's, "adaptive", "yield" or "spin"
};

/// The setup a name stands for; an error listing the known names otherwise.
core::expected<setup> setup_named(const std::string& name);

/// Why `s` cannot run on this machine with this build ("" if it can): a transport not in the
/// build, root missing for eBPF, nginx not installed.
std::string unavailable_reason(const setup& s);

/// Writes the app file for `s` into `dir`: the app's own file with the transport keys of the
/// setup, the gateway on a free port, and its libraries resolved to absolute paths. Returns the
/// new file's path.
core::expected<std::string> write_setup_app(const std::string& app_file, const setup& s,
                                            const std::string& dir);

/// Writes into `dir` a copy of the app whose first chain is its first function `length` times
/// (copies named FIRST-2, FIRST-3, ... with the same handler and settings), for a chain-length
/// sweep; libraries resolved to absolute paths. Returns the new file's path.
core::expected<std::string> write_chain_length_app(const std::string& app_file, unsigned length,
                                                   const std::string& dir);

} // namespace spry::bench
