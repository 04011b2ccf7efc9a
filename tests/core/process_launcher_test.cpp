// Starting a process with the launcher, /bin/sh standing in for this program: its role in the
// environment, descriptors at the numbers asked for, stdout and stderr in one pipe, the control
// socket at 3, CPU affinity; and an exec that fails says so on the process's stderr.
#include "core/process_launcher.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

using namespace spry::core;

namespace {

// Everything readable from `fd` until EOF (bounded by 5 s).
std::string read_all(int fd) {
  std::string out;
  char buf[512];
  for (int i = 0; i < 500; ++i) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0)
      continue;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0)
      break;
    if (n > 0)
      out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

int exit_code_of(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

} // namespace

TEST_CASE("process launcher: role, descriptors, output and control socket reach the process",
          "[core][process_launcher]") {
  int extra[2];
  REQUIRE(pipe2(extra, O_CLOEXEC) == 0);
  process_launcher launcher(launch_program{
    "/bin/sh",
    {"sh", "-c",
     "echo \"role=$SPRY_TEST_ROLE instance=${SPRY_INSTANCE:-none}\"; echo to-stderr >&2; "
     "printf ready >&3; echo passed >&7; "
     "grep Cpus_allowed_list /proc/self/status"},
    nullptr});
  setenv("SPRY_INSTANCE", "inherited", 1); // never passed on: a child is told its own role
  setenv("SPRY_TEST_ROLE", "stale", 1);    // replaced by the request's
  process_request r;
  r.role_env = "SPRY_TEST_ROLE=work#3";
  r.fds = {{extra[1], 7}};
  r.cpus = {0};
  r.label = "test#1";
  auto p = launcher.start(r);
  unsetenv("SPRY_INSTANCE");
  unsetenv("SPRY_TEST_ROLE");
  REQUIRE(p);
  close(extra[1]);
  CHECK(read_all(extra[0]) == "passed\n");
  close(extra[0]);
  CHECK(read_all(p->control) == "ready");
  const auto output = read_all(p->output);
  CHECK_THAT(output, Catch::Contains("role=work#3 instance=none"));
  CHECK_THAT(output, Catch::Contains("to-stderr"));
  CHECK_THAT(output, Catch::Contains("Cpus_allowed_list:\t0\n"));
  CHECK(exit_code_of(p->pid) == 0);
  close(p->control);
  close(p->output);
}

TEST_CASE("process launcher: a program that cannot be executed fails in the child, saying so",
          "[core][process_launcher]") {
  process_launcher launcher(launch_program{"/nonexistent/spry", {"spry"}, nullptr});
  CHECK_FALSE(launcher.forks());
  process_request r;
  r.role_env = "SPRY_TEST_ROLE=x";
  r.may_fork = true; // no template: exec'd all the same
  auto p = launcher.start(r);
  REQUIRE(p);
  CHECK_THAT(read_all(p->output), Catch::Contains("exec of the instance program failed"));
  CHECK(exit_code_of(p->pid) == 127);
  close(p->control);
  close(p->output);
}
