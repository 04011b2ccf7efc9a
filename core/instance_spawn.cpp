// Starting an instance (and its sidecar, if the transport puts one in front of it): the sockets
// the agent owns for it, what it inherits and the role it is told (and how the instance reads
// that role back), then core/process_launcher.hpp starts the process. Part of
// instance_supervisor; supervision itself (readiness, exits, restarts, scaling, the directory)
// is in instance_supervisor.cpp.
#include "core/clock.hpp"
#include "core/instance_child.hpp"
#include "core/instance_template.hpp"
#include "core/instance_supervisor.hpp"
#include "core/role_env.hpp"

#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace spry::core {

namespace {

int make_listener(uint16_t& port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, SOMAXCONN) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return -1;
  }
  port = ntohs(a.sin_port);
  return fd;
}

} // namespace

expected<std::unique_ptr<instance_supervisor::child>>
instance_supervisor::make_child(const planned& p) {
  auto c = std::make_unique<child>(app_.instances);
  c->endpoint = p.endpoint;
  c->function = p.function;
  c->cpus = p.cpus;
  if (own_listeners_ && network_) {
    // In a pod: the socket lives in the instance's own network namespace, on its address.
    auto pod = network_->open(p.endpoint);
    if (!pod)
      return make_error("cannot set up the network namespace of " + app_.functions[p.function].name +
                        "#" + std::to_string(p.endpoint) + ": " + pod.err().message);
    c->listen_fd = pod->listen_fd;
    c->address = c->advertised = pod->address;
    netns_[p.endpoint] = pod->netns_fd;
  } else if (own_listeners_) {
    uint16_t port = 0;
    c->listen_fd = make_listener(port);
    if (sidecars_)
      c->private_fd = make_listener(c->private_port);
    if (c->listen_fd < 0 || (sidecars_ && c->private_fd < 0)) {
      const int e = errno;
      for (int fd : {c->listen_fd, c->private_fd})
        if (fd >= 0)
          close(fd);
      return make_error(std::string("cannot open a loopback listening socket for an "
                                    "instance: ") + strerror(e));
    }
    c->address = c->advertised = "127.0.0.1:" + std::to_string(port);
  }
  return c;
}

// The numbers an instance's descriptors are placed at (below) stay under those a spare keeps
// what it opened ahead at.
static_assert(child_first_pool_fd + 64 <= spare_fd_floor);

process_request instance_supervisor::request_of(const std::string& role_env, int pass_fd,
                                                const std::string& label, int pools_of,
                                                const std::vector<unsigned>& cpus,
                                                int netns_fd) const {
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
  if (pools_of >= 0 && transport_fd_ >= 0)
    r.fds.emplace_back(transport_fd_, child_transport_fd);
  // Only the pools of chains this function is part of: chains are isolated from each other.
  if (pools_of >= 0)
    for (size_t i = 0; i < pool_fds_.size() && i < 64; ++i)
      if (in_chain(static_cast<function_id>(pools_of), i))
        r.fds.emplace_back(pool_fds_[i], child_first_pool_fd + static_cast<int>(i));
  return r;
}

void instance_supervisor::adopt(proc& p, const launched_process& l) {
  p.pid = l.pid;
  p.control = l.control;
  p.err = l.output;
  p.reader = control_reader{};
}

std::string instance_supervisor::role_of(const child& c) const {
  const int instance_fd = sidecars_ ? c.private_fd : c.listen_fd;
  return "SPRY_INSTANCE=endpoint=" + std::to_string(c.endpoint) +
         ";function=" + app_.functions[c.function].name +
         ";control_fd=" + std::to_string(child_control_fd) +
         ";listen_fd=" + std::to_string(instance_fd >= 0 ? child_listen_fd : -1) +
         ";parent=" + std::to_string(getpid()) +
         ";gateway=" + gateway_address_ +
         (board_fd_ >= 0 ? ";board=" + std::to_string(child_board_fd) : "") +
         ";pools=" + [&] {
           // Only the pools of chains this function is part of (-1: not passed, not mapped):
           // chains are isolated from each other.
           std::string list;
           for (size_t i = 0; i < pool_fds_.size(); ++i)
             list += (i ? "," : "") +
                     (in_chain(c.function, i) ? std::to_string(child_first_pool_fd + i)
                                              : std::string("-1"));
           return list;
         }() +
         (transport_parameters_.empty() ? std::string() : ";transport=" + transport_parameters_) +
         (transport_fd_ >= 0 ? ";transport_fd=" + std::to_string(child_transport_fd) : std::string()) +
         // The node's current function libraries (a hot reload changes them): a forked
         // instance loads them too, finding the ones the template preloaded already mapped and
         // opening a reloaded one itself.
         (hooks_.libraries ? ";libraries=" + role_list(hooks_.libraries()) : std::string());
}

status_or_error instance_supervisor::spawn(child& c) {
  std::vector<child*> one{&c};
  return spawn(one).front();
}

std::vector<status_or_error> instance_supervisor::spawn(const std::vector<child*>& cs) {
  // The cold start counts from here: a template's fork happens inside the launcher's start, an
  // exec'd child's loading after it; both are in the figure.
  const uint64_t spawned_ns = now_ns();
  start_activity_ns_ = spawned_ns;
  // Every instance process in one batch: forks from the template overlap, so a chain warming
  // up from zero starts its instances together rather than one after another.
  std::vector<process_request> requests;
  for (const child* c : cs)
    requests.push_back(request_of(role_of(*c), sidecars_ ? c->private_fd : c->listen_fd,
                                  label_of(*c), c->function, c->cpus, netns_of(c->endpoint)));
  auto started = launcher_.start(requests);
  std::vector<status_or_error> out;
  for (size_t k = 0; k < cs.size(); ++k) {
    child& c = *cs[k];
    if (!started[k]) {
      out.push_back(started[k].err());
      continue;
    }
    adopt(c.main, *started[k]);
    if (sidecars_) {
      sidecar_launch l;
      l.control_fd = child_control_fd;
      l.listen_fd = child_listen_fd;
      l.upstream_port = c.private_port;
      l.concurrency = app_.functions[c.function].concurrency;
      l.parent = getpid();
      l.name = label_of(c);
      auto side = launcher_.start(request_of(sidecar_.role_env(l), c.listen_fd,
                                             l.name + "/" + sidecar_.name, -1, c.cpus,
                                             netns_of(c.endpoint)));
      if (!side) {
        kill(c.main.pid, SIGKILL);
        waitpid(c.main.pid, nullptr, 0);
        close(c.main.control);
        close(c.main.err);
        c.main = proc{};
        out.push_back(side.err());
        continue;
      }
      adopt(c.side, *side);
    }
    c.running = true;
    c.ready = false;
    c.started_ns = spawned_ns;
    c.exit_reason.clear();
    c.ready_deadline_ns = now_ns() + uint64_t{app_.instances.ready_timeout_ms} * 1000000;
    out.push_back(status_or_error{});
  }
  return out;
}

std::optional<expected<instance_role>> instance_role_from_env() {
  const auto env = read_role_env("SPRY_INSTANCE");
  if (!env.present)
    return std::nullopt;
  if (!env.error.empty())
    return expected<instance_role>(make_error(env.error));
  const auto& kv = env.values;
  instance_role r;
  try {
    r.endpoint = static_cast<endpoint_id>(role_number(kv, "endpoint"));
    r.control_fd = static_cast<int>(role_number(kv, "control_fd"));
    r.listen_fd = kv.count("listen_fd") ? static_cast<int>(role_number(kv, "listen_fd")) : -1;
    r.parent = kv.count("parent") ? static_cast<pid_t>(role_number(kv, "parent")) : 0;
    r.function = kv.count("function") ? kv.at("function") : std::string();
    r.gateway_address = kv.count("gateway") ? kv.at("gateway") : std::string();
    r.board_fd = kv.count("board") ? static_cast<int>(role_number(kv, "board")) : -1;
    r.transport_parameters = kv.count("transport") ? kv.at("transport") : std::string();
    r.transport_fd = kv.count("transport_fd") ? static_cast<int>(role_number(kv, "transport_fd")) : -1;
    if (kv.count("libraries"))
      r.libraries = parse_role_list(kv.at("libraries"));
    if (kv.count("pools")) {
      const std::string& list = kv.at("pools");
      for (size_t p = 0; p < list.size();) {
        const auto comma = list.find(',', p);
        r.pool_fds.push_back(std::stoi(list.substr(p, comma == std::string::npos ? std::string::npos : comma - p)));
        p = comma == std::string::npos ? list.size() : comma + 1;
      }
    }
  } catch (const std::exception& e) {
    return expected<instance_role>(make_error(std::string("SPRY_INSTANCE: ") + e.what()));
  }
  if (r.function.empty() || r.control_fd < 0)
    return expected<instance_role>(make_error("SPRY_INSTANCE lacks a function or control_fd"));
  return expected<instance_role>(r);
}

} // namespace spry::core
