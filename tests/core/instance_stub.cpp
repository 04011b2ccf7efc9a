// A stand-in instance program for the instance supervisor's test: it speaks the control channel
// as a real instance does (ready, applied for every directory, exit on stop or EOF) and runs no
// function. Its `ready` address reports the function libraries its role names, so the test sees
// what the supervisor passed.
#include "core/control_channel.hpp"
#include "core/instance_supervisor.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

using namespace spry::core;

int main() {
  auto role = instance_role_from_env();
  if (!role || !*role) {
    std::fprintf(stderr, "instance stub: no valid SPRY_INSTANCE\n");
    return 2;
  }
  const auto& r = **role;
  control_message ready;
  ready.type = control_message::kind::ready;
  ready.endpoint = r.endpoint;
  ready.address = r.function + " libraries:";
  if (r.libraries)
    for (const auto& l : *r.libraries)
      ready.address += " " + l;
  if (!write_control(r.control_fd, ready))
    return 1;
  std::fprintf(stderr, "instance stub %u (%s) ready\n", r.endpoint, r.function.c_str());
  control_reader reader;
  for (;;) {
    pollfd p{r.control_fd, POLLIN, 0};
    if (poll(&p, 1, -1) < 0 && errno != EINTR)
      return 1;
    char buf[4096];
    const ssize_t n = read(r.control_fd, buf, sizeof buf);
    if (n == 0)
      return 0; // the supervisor is gone
    if (n < 0)
      continue;
    reader.feed(buf, static_cast<size_t>(n));
    while (auto m = reader.next()) {
      if (!*m)
        return 1;
      if ((*m)->type == control_message::kind::stop)
        return 0;
      if ((*m)->type == control_message::kind::directory) {
        control_message applied;
        applied.type = control_message::kind::applied;
        applied.version = (*m)->version;
        write_control(r.control_fd, applied);
      }
    }
  }
}
