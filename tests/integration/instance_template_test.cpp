// Integration: `instances: {start: fork}` (core/instance_template.hpp). Instances forked by the
// template must behave exactly as exec'd ones to the supervisor: children of the gateway, kill -9
// noticed with its reason and restarted, stopped with the gateway; and a dead template must not
// stop instances from starting (exec takes over). Every process started is stopped by its PID.

#include "bench/load/child_process.hpp"
#include "core/instance_template.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/processes.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace spry::test;
using spry::bench::child_process;
using spry::bench::children_of;
using spry::bench::read_file;

namespace {

std::string forked_app(const std::string& transport) {
  return "app: forked\ntransport: " + transport + "\nlibraries: [" SPRY_FAULT_LIBRARY
         "]\ngateway: {listen: '127.0.0.1:0'}\n"
         "instances: {start: fork, restart_backoff: 50ms}\n"
         "functions:\n  - { name: upper, handler: fault.upper }\n"
         "  - { name: count, handler: fault.count }\n"
         "chains:\n  - name: hello\n    http: { method: POST, path: /hello }\n"
         "    functions: [upper, count]\n    timeout: 10s\n";
}

std::string comm_of(pid_t pid) {
  std::string name;
  std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/comm"), name);
  return name;
}

struct family {
  std::vector<pid_t> templates, instances;
};

family children(pid_t gateway) {
  family f;
  for (pid_t p : children_of(gateway))
    (comm_of(p) == "spry-template" ? f.templates : f.instances).push_back(p);
  return f;
}

// The instances once there are `n` and none of `gone` is among them (or what there is after 10 s).
std::vector<pid_t> wait_instances(pid_t gateway, size_t n, const std::set<pid_t>& gone = {}) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::vector<pid_t> now;
  for (;;) {
    now = children(gateway).instances;
    bool fresh = now.size() == n;
    for (pid_t p : now)
      fresh = fresh && !gone.count(p);
    if (fresh || std::chrono::steady_clock::now() > deadline)
      return now;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// A 200 within a couple of seconds (an instance restarting answers 502 meanwhile).
bool answers(uint16_t port, const std::string& body) {
  for (int i = 0; i < 100; ++i) {
    auto r = http_request(port, "POST", "/hello", body);
    if (r && r->status == 200)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

} // namespace

TEST_CASE("instances forked from a template answer as exec'd ones and are supervised alike",
          "[integration][processes]") {
  std::vector<std::string> transports{"tcp"};
  if (geteuid() == 0)
    transports.push_back("shm-skmsg");
  else
    WARN("shm-skmsg part not run: needs root (BPF)");
  for (const auto& transport : transports) {
    INFO(transport);
    temp_dir dir;
    child_process exec({SPRY_BINARY, "run",
                        dir.file("exec.yaml", [&] {
                          auto y = forked_app(transport);
                          return y.replace(y.find("start: fork"), 11, "start: exec");
                        }()),
                        "--log-level", "warn"});
    child_process spry({SPRY_BINARY, "run", dir.file("fork.yaml", forked_app(transport)),
                        "--log-level", "warn"},
                       dir.path + "/stderr");
    const uint16_t ep = port_of(exec), port = port_of(spry);

    // One template, two instances, all children of the gateway (the instances reparented to it).
    auto kids = wait_instances(spry.pid(), 2);
    REQUIRE(kids.size() == 2);
    const auto templates = children(spry.pid()).templates;
    REQUIRE(templates.size() == 1);
    CHECK(children(exec.pid()).templates.empty()); // start: exec has none
    for (pid_t k : kids)
      CHECK(comm_of(k) != "spry-template");

    for (const std::string& body : std::vector<std::string>{"a", "Two Words", std::string(10000, 'x')}) {
      auto a = http_request(ep, "POST", "/hello", body);
      auto b = http_request(port, "POST", "/hello", body);
      REQUIRE(a);
      REQUIRE(b);
      CHECK(a->status == 200);
      CHECK(b->status == a->status);
      CHECK(b->body == a->body);
    }

    // kill -9 of a forked instance: noticed with its reason, restarted from the template.
    REQUIRE(kill(kids[0], SIGKILL) == 0);
    auto now = wait_instances(spry.pid(), 2, {kids[0]});
    REQUIRE(now.size() == 2);
    CHECK(std::set<pid_t>(now.begin(), now.end()).count(kids[0]) == 0);
    CHECK(answers(port, "after a kill"));
    CHECK(children(spry.pid()).templates == templates);
    CHECK_THAT(read_file(dir.path + "/stderr"), Catch::Contains("was killed by signal 9"));
    CHECK_THAT(read_file(dir.path + "/stderr"),
               !Catch::Contains("starting instances with exec from now on"));

    // The template dies: the next instance is exec'd, said once in the log.
    REQUIRE(kill(templates[0], SIGKILL) == 0);
    REQUIRE(kill(now[1], SIGKILL) == 0);
    auto after = wait_instances(spry.pid(), 2, {now[1]});
    REQUIRE(after.size() == 2);
    CHECK(answers(port, "after the template"));
    CHECK(children(spry.pid()).templates.empty());
    CHECK_THAT(read_file(dir.path + "/stderr"),
               Catch::Contains("starting instances with exec from now on"));

    auto status = spry.stop(SIGTERM, std::chrono::seconds(10));
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    CHECK(all_gone(after, std::chrono::seconds(2)));
    CHECK(all_gone(templates, std::chrono::seconds(2)));
    exec.stop(SIGTERM, std::chrono::seconds(10));
  }
}

namespace {

// Exit codes of the batch check (run in its own single-threaded process, as a template must be
// forked from one).
enum batch_check : int {
  batch_ok = 0,
  no_template = 10,
  not_forked = 11,
  same_pid = 12,
  not_concurrent = 13,
  wrong_order = 14,
  bad_exit = 15,
};

// Each instance writes "index pid\n" to fd 7, then waits for EOF on fd 8 (the checker lets go).
[[noreturn]] void batch_check_process() {
  auto forker = spry::core::instance_template::start([]() -> int {
    const char* index = std::getenv("SPRY_TEST_INDEX");
    const std::string line = std::string(index ? index : "?") + " " + std::to_string(getpid()) + "\n";
    (void)!write(7, line.data(), line.size());
    // Held until the checker has heard from every instance of the batch (10 s at most).
    pollfd p{8, POLLIN, 0};
    const int released = poll(&p, 1, 10000);
    _exit(released == 1 ? 0 : 3);
  });
  if (!forker)
    _exit(no_template);
  // Made after the template: it must not hold the write end of `go`, or EOF would never come.
  int up[2], go[2];
  if (pipe2(up, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0)
    _exit(no_template);
  std::vector<spry::core::fork_request> batch;
  for (int i = 0; i < 4; ++i) {
    spry::core::fork_request r;
    r.role_env = "SPRY_TEST_INDEX=" + std::to_string(i);
    r.fds = {{up[1], 7}, {go[0], 8}};
    batch.push_back(r);
  }
  std::vector<bool> sent;
  auto pids = (*forker)->fork_instances(batch, &sent);
  close(up[1]);
  close(go[0]);
  std::set<pid_t> distinct;
  for (auto& p : pids) {
    if (!p)
      _exit(not_forked);
    distinct.insert(*p);
  }
  if (distinct.size() != 4)
    _exit(same_pid);
  // Every instance of the batch is up while none has been let go: they run side by side, and
  // none was forked only after another finished.
  std::string heard;
  for (int lines = 0; lines < 4;) {
    pollfd p{up[0], POLLIN, 0};
    if (poll(&p, 1, 10000) != 1)
      _exit(not_concurrent);
    char buf[256];
    const ssize_t n = read(up[0], buf, sizeof buf);
    if (n <= 0)
      _exit(not_concurrent);
    heard.append(buf, static_cast<size_t>(n));
    lines = static_cast<int>(std::count(heard.begin(), heard.end(), '\n'));
  }
  // Answers come in any order; the pids are given back in the order of the requests.
  for (int i = 0; i < 4; ++i)
    if (heard.find(std::to_string(i) + " " + std::to_string(*pids[static_cast<size_t>(i)]) +
                   "\n") == std::string::npos)
      _exit(wrong_order);
  close(go[1]); // let them go
  for (auto& p : pids) {
    int status = 0;
    if (waitpid(*p, &status, 0) != *p || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      _exit(bad_exit);
  }
  forker->reset();
  _exit(batch_ok);
}

} // namespace

TEST_CASE("a batch forked from the template starts together: every instance runs before any is "
          "let go, and each pid comes back in the order of its request",
          "[integration][processes]") {
  const pid_t checker = fork();
  REQUIRE(checker >= 0);
  if (checker == 0)
    batch_check_process();
  int status = 0;
  // Bounded by the checker's own timeouts (10 s per wait).
  REQUIRE(waitpid(checker, &status, 0) == checker);
  REQUIRE(WIFEXITED(status));
  INFO("10: no template, 11: a request not forked, 12: a pid twice, 13: not all running at "
       "once, 14: a pid out of order, 15: an instance did not exit cleanly");
  CHECK(WEXITSTATUS(status) == batch_ok);
}
