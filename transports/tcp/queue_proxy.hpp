#pragma once
// The queue-proxy sidecar (tcp.sidecar: true): one process in front of every instance, as
// Knative's queue-proxy sits in front of every user container. It accepts the hop's HTTP
// request, holds it while the instance already runs `concurrency` requests (containerConcurrency),
// forwards it over a keep-alive connection, relays the answer, and counts what it saw (GET
// /metrics). It adds the process hop and the extra copies the published Knative path has.
//
// It is this program re-run in the sidecar role (SPRY_SIDECAR in the environment), like an
// instance, and dies with the gateway (PR_SET_PDEATHSIG) or when its control channel closes.

#include "core/error.hpp"
#include "core/sidecar.hpp"

#include <optional>
#include <string>
#include <sys/types.h>

namespace spry::transports::tcp {

struct sidecar_role {
  int control_fd = -1;
  int listen_fd = -1;
  std::string upstream_host = "127.0.0.1";
  uint16_t upstream_port = 0;
  unsigned concurrency = 1;
  pid_t parent = 0;
  std::string name; ///< for messages: "upper#1"
};

/// The environment entry (SPRY_SIDECAR=...) that sidecar_role_from_env reads back: how the
/// instance supervisor starts a queue-proxy (the tcp transport's core::sidecar_kind).
std::string sidecar_role_env(const core::sidecar_launch& l);

/// The role if this process was started as a sidecar; an error if SPRY_SIDECAR is malformed.
std::optional<core::expected<sidecar_role>> sidecar_role_from_env();

/// Runs until the control channel closes; returns the exit code.
int run_queue_proxy(const sidecar_role& role);

} // namespace spry::transports::tcp
