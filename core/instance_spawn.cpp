// Starting an instance (and its sidecar, if the transport puts one in front of it): what it
// inherits and the role it is told, then core/process_launcher.hpp starts the process. Part of
// instance_supervisor.
#include "core/clock.hpp"
#include "core/instance_child.hpp"
#include "core/instance_supervisor.hpp"
#include "core/role_env.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

namespace spry::core {

status_or_error instance_supervisor::start_process(proc& p, const std::string& role_env,
                                                   int pass_fd, const std::string& label,
                                                   int pools_of,
                                                   const std::vector<unsigned>& cpus,
                                                   int netns_fd) {
  process_request r;
  r.role_env = role_env;
  r.label = label;
  r.cpus = cpus;
  r.netns_fd = netns_fd;
  // Instances may come from the template; a sidecar is another program's role: exec'd.
  r.may_fork = pools_of >= 0;
  if (pass_fd >= 0)
    r.fds.emplace_back(pass_fd, child_listen_fd);
  if (pools_of >= 0 && board_fd_ >= 0)
    r.fds.emplace_back(board_fd_, child_board_fd);
  // Only the pools of chains this function is part of: chains are isolated from each other.
  if (pools_of >= 0)
    for (size_t i = 0; i < pool_fds_.size() && i < 64; ++i)
      if (in_chain(static_cast<function_id>(pools_of), i))
        r.fds.emplace_back(pool_fds_[i], child_first_pool_fd + static_cast<int>(i));
  auto started = launcher_.start(r);
  if (!started)
    return started.err();
  p.pid = started->pid;
  p.control = started->control;
  p.err = started->output;
  p.reader = control_reader{};
  return {};
}

status_or_error instance_supervisor::spawn(child& c) {
  // The cold start counts from here: a template's fork happens inside spawn_process, an exec'd
  // child's loading after it; both are in the figure.
  const uint64_t spawned_ns = now_ns();
  const std::string label = label_of(c);
  const int instance_fd = sidecars_ ? c.private_fd : c.listen_fd;
  const std::string role = "SPRY_INSTANCE=endpoint=" + std::to_string(c.endpoint) +
                           ";function=" + app_.functions[c.function].name +
                           ";control_fd=" + std::to_string(child_control_fd) +
                           ";listen_fd=" + std::to_string(instance_fd >= 0 ? child_listen_fd : -1) +
                           ";parent=" + std::to_string(getpid()) +
                           ";gateway=" + gateway_address_ +
                           (board_fd_ >= 0 ? ";board=" + std::to_string(child_board_fd) : "") +
                           ";pools=" + [&] {
                             // Only the pools of chains this function is part of (-1: not
                             // passed, not mapped): chains are isolated from each other.
                             std::string list;
                             for (size_t i = 0; i < pool_fds_.size(); ++i)
                               list += (i ? "," : "") +
                                       (in_chain(c.function, i)
                                          ? std::to_string(child_first_pool_fd + i)
                                          : std::string("-1"));
                             return list;
                           }() +
                           (transport_parameters_.empty() ? std::string()
                                                          : ";transport=" + transport_parameters_) +
                           // The node's current function libraries (a hot reload changes them):
                           // a forked instance loads them too, finding the ones the template
                           // preloaded already mapped and opening a reloaded one itself.
                           (hooks_.libraries ? ";libraries=" + role_list(hooks_.libraries())
                                             : std::string());
  if (auto ok = start_process(c.main, role, instance_fd, label, c.function, c.cpus,
                              netns_of(c.endpoint));
      !ok)
    return ok;
  if (sidecars_) {
    sidecar_launch l;
    l.control_fd = child_control_fd;
    l.listen_fd = child_listen_fd;
    l.upstream_port = c.private_port;
    l.concurrency = app_.functions[c.function].concurrency;
    l.parent = getpid();
    l.name = label;
    if (auto ok = start_process(c.side, sidecar_.role_env(l), c.listen_fd,
                                label + "/" + sidecar_.name, -1, c.cpus, netns_of(c.endpoint));
        !ok) {
      kill(c.main.pid, SIGKILL);
      waitpid(c.main.pid, nullptr, 0);
      close(c.main.control);
      close(c.main.err);
      c.main = proc{};
      return ok;
    }
  }
  c.running = true;
  c.ready = false;
  c.started_ns = spawned_ns;
  c.exit_reason.clear();
  c.ready_deadline_ns = now_ns() + uint64_t{app_.instances.ready_timeout_ms} * 1000000;
  return {};
}

} // namespace spry::core
