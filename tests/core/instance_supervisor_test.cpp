// The instance supervisor with a stand-in instance program (instance_stub.cpp): start-up waits
// for every instance to be ready and on the final directory; a killed instance is reported and
// restarted; scaling adds, retires and removes instances; every start is told the library set
// the `libraries` hook gives at that moment; stop leaves no process behind.
#include "core/instance_supervisor.hpp"
#include "tests/support/eventually.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

using namespace spry::core;
using spry::test::eventually;

namespace {

bool alive(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

std::optional<instance_status> status_of(const instance_supervisor& s, endpoint_id ep) {
  for (const auto& x : s.status())
    if (x.endpoint == ep)
      return x;
  return std::nullopt;
}

} // namespace

TEST_CASE("instance supervisor: start, restart after a kill, scale, pass the current libraries, "
          "stop",
          "[core][instance_supervisor]") {
  app_spec app;
  app.name = "sup";
  for (const char* name : {"f", "g"}) {
    function_spec f;
    f.name = f.handler = name;
    app.functions.push_back(f);
  }
  app.instances.restart_backoff_ms = 10;
  app.instances.ready_timeout_ms = 10000;

  launch_spec launch;
  launch.executable = SPRY_INSTANCE_STUB;
  launch.argv = {"instance_stub"};
  std::mutex mtx;
  std::vector<std::string> downs;
  endpoint_directory last_dir;
  std::vector<std::string> libraries{"/lib/a.so"};
  instance_supervisor::hooks h;
  h.on_down = [&](endpoint_id, const std::string& why) {
    std::lock_guard<std::mutex> guard{mtx};
    downs.push_back(why);
  };
  h.on_topology = [&](const endpoint_directory& d,
                      const std::vector<std::pair<endpoint_id, std::string>>&) {
    std::lock_guard<std::mutex> guard{mtx};
    last_dir = d;
  };
  h.libraries = [&] {
    std::lock_guard<std::mutex> guard{mtx};
    return libraries;
  };
  auto listed = [&](function_id f, endpoint_id ep) {
    std::lock_guard<std::mutex> guard{mtx};
    if (f >= last_dir.instances.size())
      return false;
    const auto& l = last_dir.instances[f];
    return std::find(l.begin(), l.end(), ep) != l.end();
  };

  instance_supervisor sup(app, launch, "gateway:0", false, std::nullopt, {}, h);
  REQUIRE(sup.start({{1, 0, {}}, {2, 1, {}}}));
  auto one = status_of(sup, 1), two = status_of(sup, 2);
  REQUIRE(one);
  REQUIRE(two);
  CHECK(one->ready);
  CHECK(two->ready);
  CHECK(alive(one->pid));
  CHECK(one->address == "f libraries: /lib/a.so");
  CHECK(two->address == "g libraries: /lib/a.so");
  CHECK(listed(0, 1));
  CHECK(listed(1, 2));

  // A hot reload changed the node's libraries: every start from now on gets the new set.
  {
    std::lock_guard<std::mutex> guard{mtx};
    libraries = {"/lib/b;v2.so", "/lib/c.so"};
  }
  // Killed: reported down, restarted (on the current libraries), ready again.
  const pid_t first = one->pid;
  kill(first, SIGKILL);
  CHECK(eventually([&] {
    auto s = status_of(sup, 1);
    return s && s->ready && s->pid != first && s->restarts == 1;
  }));
  CHECK(status_of(sup, 1)->address == "f libraries: /lib/b;v2.so /lib/c.so");
  {
    std::lock_guard<std::mutex> guard{mtx};
    REQUIRE(downs.size() == 1);
    CHECK_THAT(downs[0], Catch::Contains("instance 1 of function 'f'") &&
                           Catch::Contains("killed by signal 9"));
  }
  CHECK(eventually([&] { return listed(0, 1); }));

  // Scale up, then retire (out of the directory everywhere) and remove (stopped, forgotten).
  REQUIRE(sup.add({3, 0, {}}));
  CHECK(eventually([&] { return status_of(sup, 3) && status_of(sup, 3)->ready && listed(0, 3); }));
  const pid_t third = status_of(sup, 3)->pid;
  CHECK(sup.coming(0) == 0);
  sup.retire(3);
  CHECK_FALSE(listed(0, 3));
  CHECK(eventually([&] { return sup.retired_everywhere(3); }));
  sup.remove(3);
  CHECK(eventually([&] { return !status_of(sup, 3) && !alive(third); }));
  {
    std::lock_guard<std::mutex> guard{mtx};
    CHECK(downs.size() == 1); // a removal is not a crash
  }

  const pid_t a = status_of(sup, 1)->pid, b = status_of(sup, 2)->pid;
  sup.stop();
  CHECK(eventually([&] { return !alive(a) && !alive(b); }));
}
