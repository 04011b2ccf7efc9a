#include "core/instance_process.hpp"

#include "core/control_channel.hpp"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <optional>
#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace spry::core {

int run_instance(app_spec app, function_registry functions, const instance_role& role,
                 const runtime_options& opts) {
  // Dies with the gateway even if it is SIGKILLed (inherited across exec, set again for safety).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (role.parent != 0 && getppid() != role.parent) {
    std::fprintf(stderr, "spry instance: the gateway (pid %d) is already gone\n", role.parent);
    return 1;
  }
  auto rt = runtime::start(std::move(app), std::move(functions), opts, &role);
  if (!rt) {
    std::fprintf(stderr, "spry instance %u (%s): %s\n", role.endpoint, role.function.c_str(),
                 rt.err().message.c_str());
    return 1;
  }
  // The gateway's address first: a request may arrive the moment the endpoint is bound, and its
  // result must be able to go home. Other peers follow on the control channel, each batch
  // applied before the directory that names them.
  if (!role.gateway_address.empty())
    if (auto ok = (*rt)->tp().set_peer(gateway_endpoint, role.gateway_address); !ok) {
      std::fprintf(stderr, "spry instance %u: %s\n", role.endpoint, ok.err().message.c_str());
      return 1;
    }
  if (auto ok = (*rt)->launch(); !ok) {
    std::fprintf(stderr, "spry instance %u (%s): %s\n", role.endpoint, role.function.c_str(),
                 ok.err().message.c_str());
    return 1;
  }
  auto& tp = (*rt)->tp();
  control_message ready;
  ready.type = control_message::kind::ready;
  ready.endpoint = role.endpoint;
  ready.address = tp.address_of(role.endpoint);
  if (!write_control(role.control_fd, ready, tp.handover_fd(role.endpoint)))
    return 1;

  control_reader reader;
  std::vector<endpoint_id> known;
  bool running = true;
  while (running) {
    pollfd p{role.control_fd, POLLIN, 0};
    if (poll(&p, 1, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    char buf[8192];
    const ssize_t n = read(role.control_fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
      break; // the node agent is gone: so are we
    if (n < 0)
      continue;
    reader.feed(buf, static_cast<size_t>(n));
    // Of the directories read together only the last is applied and confirmed: each is the
    // whole topology, and the agent takes a confirmation as covering every earlier version (a
    // chain warming up publishes once per instance that becomes ready).
    std::optional<control_message> directory;
    while (auto m = reader.next()) {
      if (!*m) {
        std::fprintf(stderr, "spry instance %u: %s\n", role.endpoint, m->err().message.c_str());
        running = false;
        break;
      }
      const control_message& msg = **m;
      switch (msg.type) {
        case control_message::kind::peers: {
          std::vector<endpoint_id> now;
          for (const auto& [ep, address] : msg.peers) {
            if (ep == role.endpoint)
              continue;
            if (auto ok = tp.set_peer(ep, address); !ok)
              std::fprintf(stderr, "spry instance %u: %s\n", role.endpoint, ok.err().message.c_str());
            now.push_back(ep);
          }
          for (auto ep : known)
            if (std::find(now.begin(), now.end(), ep) == now.end())
              tp.remove_peer(ep);
          known = now;
          break;
        }
        case control_message::kind::directory:
          directory = std::move(**m);
          break;
        case control_message::kind::stop:
          running = false;
          break;
        case control_message::kind::ready:
        case control_message::kind::applied:
          break;
      }
    }
    if (directory) {
      endpoint_directory dir;
      dir.instances = std::move(directory->directory);
      (*rt)->directory().publish(std::make_shared<const endpoint_directory>(std::move(dir)));
      // Tell the agent this topology is in use: start-up waits for it, so the first request
      // never finds an instance that does not know its next hop yet.
      control_message applied;
      applied.type = control_message::kind::applied;
      applied.version = directory->version;
      write_control(role.control_fd, applied);
    }
  }
  (*rt)->stop();
  return 0;
}

} // namespace spry::core
