#pragma once
// The node agent's half of instance lifecycle: starts every instance of a cross-process
// transport as its own OS process, waits for it to say it is ready, notices at once when it
// exits (EOF on its control channel), fails what it held, and restarts it with backoff. A crash
// loop is reported and slowed to the maximum backoff, never spun.
//
// Children are the same executable re-run in the instance role (SPRY_INSTANCE in the
// environment), so an app composed in C++ and one loaded from YAML start instances the same way.
// Every child has PR_SET_PDEATHSIG(SIGKILL): no instance outlives the gateway, even on SIGKILL.
//
// Threads: one monitor thread owns the children; callbacks run on it and must not block long.

#include "core/app_spec.hpp"
#include "core/endpoint_directory.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/instance_network.hpp"
#include "core/instance_template.hpp"
#include "core/process_launcher.hpp"
#include "core/sidecar.hpp"
#include "core/transport_registry.hpp"

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace spry::core {

/// How to start an instance process: this program again, with the same arguments.
struct launch_spec {
  std::string executable = "/proc/self/exe";
  std::vector<std::string> argv; ///< argv[0] included
  /// Optional: pods for the instances (needs listen_socket_per_endpoint); null = loopback.
  std::shared_ptr<instance_network> network;
  /// Optional (`instances: {start: fork}`): instances are forked by this template instead of
  /// exec'd. If it fails (it died), the launcher logs that once and execs from then on.
  /// Sidecars are always exec'd (they are another program's role).
  std::shared_ptr<instance_template> forker;
};

/// What the supervisor reports to the gateway and the metrics.
struct instance_status {
  endpoint_id endpoint;
  function_id function;
  pid_t pid;          ///< 0 while not running
  bool ready;
  uint32_t restarts;
  bool crash_looping;
  std::string address;
};

class instance_supervisor {
public:
  struct hooks {
    /// The instance is gone (exit, crash, readiness timeout): fail what it held. Monitor thread.
    std::function<void(endpoint_id, const std::string& why)> on_down;
    /// The set of ready instances or their addresses changed. Monitor thread.
    std::function<void(const endpoint_directory&,
                       const std::vector<std::pair<endpoint_id, std::string>>& peers)>
      on_topology;
    /// Optional (needs owned listening sockets): started once the sockets exist; maps each
    /// endpoint's socket address to the address peers use (a front-end proxy's).
    front_end_factory front_end;
    /// An instance handed over a file descriptor with its `ready` (shm-skmsg: its socket). The
    /// hook must dup what it keeps; the supervisor closes its copy. Monitor thread.
    std::function<status_or_error(endpoint_id, int fd)> on_handover;
    /// An instance reported ready `start_ns` after its process was started. Monitor thread.
    std::function<void(endpoint_id, uint64_t start_ns)> on_ready;
    /// Optional: the function libraries an instance started now loads instead of the app's
    /// `libraries:` (the node's current set, which a hot reload changes; the runtime owns it).
    /// Called for every start (first, restart, scale-up) on the control or the monitor thread,
    /// with the supervisor's lock held: it must not call back into the supervisor.
    std::function<std::vector<std::string>()> libraries;
  };

  struct planned {
    endpoint_id endpoint;
    function_id function;
    std::vector<unsigned> cpus; ///< sched affinity of the process (its node); empty = any
  };

  /// `gateway_address`: where instances reach endpoint 0. `listen_socket_per_endpoint`: the
  /// transport wants the agent to own each instance's listening socket (tcp), so its address
  /// survives restarts.
  /// `sidecar`: the transport's sidecar to start in front of every instance (needs owned
  /// sockets); nullopt: none.
  /// `pool_fds`: [0] the endpoint board, then the pools the instances map (shared-memory
  /// transports), passed down at start.
  /// `transport_parameters`, `transport_fd`: the node transport's instance_parameters() and
  /// instance_fd() (-1: none), passed to every instance.
  instance_supervisor(const app_spec& app, launch_spec launch, std::string gateway_address,
                      bool listen_socket_per_endpoint, std::optional<sidecar_kind> sidecar,
                      std::vector<int> pool_fds,
                      hooks h, std::string transport_parameters = {}, int transport_fd = -1);
  ~instance_supervisor();

  /// Starts the planned instances and waits until all are ready. On failure every child is
  /// stopped and the error names the function, the cause and the tail of its stderr.
  status_or_error start(const std::vector<planned>& plan);
  /// Stops every child: `stop` message, then SIGKILL after `grace_ms`. Idempotent.
  void stop(unsigned grace_ms = 2000);

  std::vector<instance_status> status() const;

  /// Scaling, after start(): starts one more instance (ready later; on_ready tells).
  status_or_error add(const planned& p);
  /// Starts several at once (a chain warming up from zero): their processes start together,
  /// none waits for another's fork. One result per plan entry, in order; a failed one leaves
  /// nothing behind, the others start all the same.
  std::vector<status_or_error> add(const std::vector<planned>& plan);
  /// Whether add() can start instances (not with a front end, configured once at start).
  bool can_add() const noexcept { return !front_end_; }
  /// Takes `endpoint` out of the directory sent to every instance (drain starts).
  void retire(endpoint_id endpoint);
  /// Every running instance confirmed a directory without `endpoint`.
  bool retired_everywhere(endpoint_id endpoint) const;
  /// Stops a retired instance (stop message, SIGKILL after a grace) and forgets it.
  void remove(endpoint_id endpoint);
  /// Instances of function `f` on their way to ready: starting, or restarting after a crash
  /// (not crash-looping, not being removed). Lock-free: the gateway asks on its send path.
  uint32_t coming(function_id f) const noexcept;

private:
  struct proc;
  struct child;
  void monitor();
  status_or_error spawn(child& c);
  /// Starts the processes of every child in `cs` together (instance_spawn.cpp): the instances
  /// in one batch through the launcher (forks from the template overlap), then each sidecar.
  /// One result per child, in order.
  std::vector<status_or_error> spawn(const std::vector<child*>& cs);
  /// What the launcher is asked for one process of a child. `pools_of`: pass the board and the
  /// pools of this function's chains (-1: none, e.g. a sidecar). `netns_fd`: the network
  /// namespace the process enters before exec (-1: ours).
  process_request request_of(const std::string& role_env, int pass_fd, const std::string& label,
                             int pools_of, const std::vector<unsigned>& cpus, int netns_fd) const;
  /// The SPRY_INSTANCE role of `c`'s instance process.
  std::string role_of(const child& c) const;
  static void adopt(proc& p, const launched_process& l);
  expected<std::unique_ptr<child>> make_child(const planned& p);
  void on_exit(child& c, const std::string& why);
  void publish_locked();
  /// Publishes the topology once for the instances that became ready since the last call
  /// (readied_); returns them with their cold-start times, for on_ready (called unlocked).
  std::vector<std::pair<endpoint_id, uint64_t>> publish_readied_locked();
  /// Recounts coming() per function; `only_raise`: keeps a count that would fall (see
  /// publish_locked()).
  void count_coming_locked(bool only_raise = false);
  void read_control(child& c);
  void read_stderr(proc& p, const std::string& label);
  std::string tail_of(const child& c) const;
  std::string label_of(const child& c) const;
  /// Whether function f takes part in chain `chain` (and so maps its pool).
  bool in_chain(function_id f, size_t chain) const;
  /// The namespace fd endpoint `e`'s processes enter (-1: stay in ours).
  int netns_of(endpoint_id e) const;

  const app_spec& app_;
  std::shared_ptr<instance_network> network_; // pods (launch_spec::network), or null
  process_launcher launcher_;
  std::string gateway_address_;
  bool own_listeners_;
  bool sidecars_;
  sidecar_kind sidecar_; // what sidecars_ starts
  int board_fd_ = -1;
  std::vector<int> pool_fds_;
  hooks hooks_;
  std::string transport_parameters_;
  int transport_fd_ = -1; // the node transport's, not ours to close
  std::unordered_map<endpoint_id, int> netns_; // launch_.network's pods, by endpoint
  std::unique_ptr<front_end> front_end_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<child>> children_;
  std::unique_ptr<std::atomic<uint32_t>[]> coming_; // per function, see coming()
  int wake_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  uint64_t topology_version_ = 0; // of the last directory sent to the instances
  std::vector<endpoint_id> readied_; // ready since the monitor's last publish; under mtx_
  bool serving_ = false; // start() succeeded: exits from now on are restarted
  // The template's spares (instances.spare) are refilled off the start path: when no instance
  // is starting and none started or became ready within the last spare_refill_quiet_ms.
  uint64_t start_activity_ns_ = 0; // the last spawn or `ready`; under mtx_
  bool spares_failed_ = false;     // the template could not fork one: not asked again (monitor)
  std::thread monitor_;
};

/// The instance role's parameters, passed in the environment variable SPRY_INSTANCE.
struct instance_role {
  endpoint_id endpoint = no_endpoint;
  std::string function;
  int control_fd = -1;
  int listen_fd = -1;
  pid_t parent = 0;
  /// Where the gateway (endpoint 0) is: known before the first request can arrive.
  std::string gateway_address;
  /// The gateway's pools, by chain id, as inherited fds (shared-memory transports).
  std::vector<int> pool_fds;
  /// The endpoint board (live load of every endpoint), -1 if not passed.
  int board_fd = -1;
  /// The node transport's instance_parameters() (empty for most transports).
  std::string transport_parameters;
  /// The node transport's instance_fd(), inherited; -1 if not passed.
  int transport_fd = -1;
  /// The function libraries to load instead of the app's `libraries:` (the node's current set
  /// after a hot reload); unset: the app's.
  std::optional<std::vector<std::string>> libraries;
};

/// The role if this process was started as an instance; an error if SPRY_INSTANCE is malformed.
std::optional<expected<instance_role>> instance_role_from_env();

} // namespace spry::core
