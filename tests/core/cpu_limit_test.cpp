// core/cpu_limit.cpp against the machine's real cgroups (root, a cgroup cpu controller); says so
// and returns where there is none.

#include "core/cpu_limit.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace spry::core;

namespace {

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

bool exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// A process to put in groups: waits for a signal, stopped by its PID.
struct idle_child {
  idle_child() {
    pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
  }
  ~idle_child() { stop(); }
  void stop() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    pid = -1;
  }
  pid_t pid = -1;
};

} // namespace

TEST_CASE("cpu_limiter: instance groups sit in a group per function weighted by the function's "
          "weight, limited one by one, removed at the end",
          "[core][cgroups]") {
  const std::string name = "spry-test-" + std::to_string(getpid());
  std::string root;
  {
    auto l = cpu_limiter::detect(name);
    if (!l->available()) {
      WARN("did not run: " << l->description());
      return;
    }
    const bool v2 = l->description().find("v2") != std::string::npos;
    idle_child a, b, c;
    REQUIRE(a.pid > 0);
    REQUIRE(b.pid > 0);
    REQUIRE(c.pid > 0);
    // Function 3 (weight 2) runs instances 7 and 8, function 5 (weight 1) instance 9.
    REQUIRE(l->set("7", a.pid, 0.5, {3, 2.0}));
    REQUIRE(l->set("8", b.pid, 0, {3, 2.0}));
    REQUIRE(l->set("9", c.pid, 0, {5, 1.0}));
    const std::string g7 = l->group_of("7"), g9 = l->group_of("9");
    REQUIRE_FALSE(g7.empty());
    root = g7.substr(0, g7.rfind("/f3/"));
    CHECK(g7 == root + "/f3/7");
    CHECK(l->group_of("8") == root + "/f3/8");
    CHECK(g9 == root + "/f5/9");
    if (v2) {
      CHECK(first_line(root + "/f3/cpu.weight") == "200");
      CHECK(first_line(root + "/f5/cpu.weight") == "100");
      CHECK(first_line(g7 + "/cpu.max") == "50000 100000");
      CHECK(first_line(root + "/f3/8/cpu.max") == "max 100000");
    } else {
      CHECK(first_line(root + "/f3/cpu.shares") == "2048");
      CHECK(first_line(root + "/f5/cpu.shares") == "1024");
      CHECK(first_line(g7 + "/cpu.cfs_quota_us") == "50000");
      CHECK(first_line(root + "/f3/8/cpu.cfs_quota_us") == "-1");
    }
    CHECK(first_line(g7 + "/cgroup.procs") == std::to_string(a.pid));
    // Re-limiting keeps the group; the process stays in it.
    REQUIRE(l->set("7", a.pid, 0.25, {3, 2.0}));
    CHECK(l->group_of("7") == g7);
    CHECK(first_line(g7 + (v2 ? "/cpu.max" : "/cpu.cfs_quota_us")) ==
          (v2 ? "25000 100000" : "25000"));
    // Leaving before the end: the child must be gone first (a populated group cannot be removed).
    c.stop();
    l->remove("9");
    CHECK(l->group_of("9").empty());
    CHECK_FALSE(exists(g9));
    // The processes leave their groups when they exit; then the limiter removes them all.
    a.stop();
    b.stop();
  }
  CHECK_FALSE(exists(root));
}
