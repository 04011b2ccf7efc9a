#pragma once
// `spry node`: the agent of one machine in a cluster.
//
// It runs the app's runtime and ingress gateway (HTTP, MQTT) like `spry run`, but starts no
// instance on its own: the controller places them (node_assignment) and it starts and stops them
// on the app's transport, inside this node. Requests may enter at any node; a hop to a function
// that runs only on other nodes leaves through the data link (node_link.hpp).
//
// Control channel: it connects to the controller over CAF's middleman with mutual TLS, joins
// (version and app digest checked by the controller), then reports its load every report
// interval. It takes commands only from the controller it joined; anything else is refused with
// a log line. If the controller goes away it keeps serving with the last directory and what it
// runs, and joins again (telling what it runs) as soon as the controller is back.

#include "cluster/tls.hpp"
#include "core/app_spec.hpp"
#include "core/error.hpp"
#include "core/function.hpp"
#include "core/instance_supervisor.hpp"

#include <memory>
#include <optional>
#include <string>

namespace spry::cluster {

struct node_options {
  core::app_spec app;
  core::function_registry functions;
  std::optional<core::launch_spec> launcher;
  std::string app_digest;
  std::string version;
  tls_files tls;
  std::string controller_host;
  uint16_t controller_port = 0;
  std::string name;
  double cpu_capacity = 1;
  double memory_mb = 1024;
  double speed = 1;
  std::string data_host = "127.0.0.1";
  uint16_t data_port = 0;
};

class node_agent {
public:
  /// Starts the node's gateway and data link, then joins in the background (retrying every
  /// second until the controller answers). Fails if the gateway or the link cannot start.
  static core::expected<std::unique_ptr<node_agent>> start(node_options opts);
  ~node_agent();

  uint16_t http_port() const;
  std::string data_address() const;
  /// Why the controller refused this node for good (version or app mismatch), or empty.
  /// Blocks up to `wait_ms` for the first join to be answered.
  std::string refused(unsigned wait_ms) const;
  /// Drains the gateway (up to drain_ms) and stops everything. Idempotent.
  void stop(unsigned drain_ms = 5000);

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

/// A stable digest of an app file's bytes (FNV-1a, 64 bits, hex): nodes and controller compare it.
std::string app_digest_of_file(const std::string& path);

} // namespace spry::cluster
