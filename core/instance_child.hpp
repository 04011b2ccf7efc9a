#pragma once
// The instance supervisor's record of one instance: its process (and sidecar), sockets, restart
// state. Private to the supervisor's two source files (instance_supervisor.cpp: lifecycle and
// monitoring; instance_spawn.cpp: starting a process), not part of the core API.

#include "core/control_channel.hpp"
#include "core/ids.hpp"
#include "core/instance_supervisor.hpp"
#include "core/process_launcher.hpp"
#include "core/restart_backoff.hpp"

#include <fcntl.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace spry::core {

/// Where an instance process finds what it inherits (the numbers SPRY_INSTANCE names).
// child_control_fd (3): core/process_launcher.hpp
constexpr int child_listen_fd = 4;
constexpr int child_board_fd = 5;
constexpr int child_transport_fd = 6;
constexpr int child_first_pool_fd = 7;

inline void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// One OS process: the instance itself or its sidecar.
struct instance_supervisor::proc {
  pid_t pid = 0;
  int control = -1;
  int err = -1;
  std::deque<std::string> tail; // last stderr lines
  std::string partial;          // stderr bytes after the last newline
  control_reader reader;
};

struct instance_supervisor::child {
  explicit child(const instances_spec& spec) : backoff(spec) {}
  endpoint_id endpoint;
  function_id function;
  proc main;
  proc side;                 // the transport's sidecar (tcp: queue-proxy), when sidecars are on
  int listen_fd = -1;        // owned by the agent across restarts (tcp): what peers connect to
  int private_fd = -1;       // with a sidecar: the instance's own socket behind it
  uint16_t private_port = 0;
  std::string address;       // where the endpoint listens (from `ready`, or the owned socket)
  std::string advertised;    // what peers are told (a front end may sit in between)
  bool ready = false;
  bool running = false;
  uint32_t restarts = 0;
  uint64_t ready_deadline_ns = 0;
  uint64_t restart_at_ns = 0;
  restart_backoff backoff;       // when to restart it after an exit; crash loops
  std::string exit_reason;       // why it last stopped (for start-up errors)
  uint64_t applied = 0;          // last topology version the instance says it uses
  std::vector<unsigned> cpus;    // its node's CPUs (sched affinity); empty = any
  uint64_t started_ns = 0;       // when its process was last started (cold-start time)
  uint64_t ready_ns = 0;         // when its `ready` came (cold start: ready_ns - started_ns)
  bool retiring = false;         // out of the directory; drains, then remove() stops it
  uint64_t retired_version = 0;  // first topology version without it
  bool removing = false;         // remove() sent stop: its exit is expected, not restarted
  uint64_t remove_deadline_ns = 0;
  bool gone = false;             // reaped after remove(): forget it
};

} // namespace spry::core
