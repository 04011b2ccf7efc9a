#include "core/spare_thread.hpp"

#include <catch2/catch.hpp>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

using namespace spry::core;

namespace {

// ThreadSanitizer kills a child forked from a process with threads once it starts one
// (die_after_fork), which the forked-child case must do.
#if defined(__SANITIZE_THREAD__)
constexpr bool thread_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool thread_sanitizer = true;
#else
constexpr bool thread_sanitizer = false;
#endif
#else
constexpr bool thread_sanitizer = false;
#endif

// Takes every thread parked by an earlier test case, so each case starts with none.
void take_all_parked() {
  while (!parked_spare_threads().empty()) {
    spare_thread t;
    t.start([] {});
    t.join();
  }
}

// The exit status of `pid`, or -1 if it has not exited within `timeout` (it is killed then).
int wait_for(pid_t pid, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

} // namespace

TEST_CASE("spare_thread runs on a parked thread when there is one", "[spare_thread]") {
  take_all_parked();
  park_spare_threads(2);
  const auto parked = parked_spare_threads();
  REQUIRE(parked.size() == 2);
  CHECK(parked[0] != parked[1]);

  std::thread::id ran_on;
  spare_thread t;
  CHECK_FALSE(t.joinable());
  t.start([&] { ran_on = std::this_thread::get_id(); });
  CHECK(t.joinable());
  CHECK(t.id() == parked[0]); // the oldest first
  t.join();
  CHECK_FALSE(t.joinable());
  CHECK(ran_on == parked[0]); // written before join returned
  REQUIRE(parked_spare_threads().size() == 1);
  CHECK(parked_spare_threads()[0] == parked[1]);
  take_all_parked();
}

TEST_CASE("spare_thread starts a new thread when none is parked", "[spare_thread]") {
  take_all_parked();
  std::thread::id ran_on;
  spare_thread t;
  t.start([&] { ran_on = std::this_thread::get_id(); });
  REQUIRE(t.joinable());
  const auto id = t.id();
  CHECK(id != std::this_thread::get_id());
  t.join();
  CHECK(ran_on == id);
  CHECK_FALSE(t.joinable());
  // Startable again once joined, as a transport's poller is after a pause.
  park_spare_threads(1);
  const auto parked = parked_spare_threads().at(0);
  t.start([&] { ran_on = std::this_thread::get_id(); });
  t.join();
  CHECK(ran_on == parked);
}

TEST_CASE("a taken thread runs with its starter's signal mask, CPUs and name, as a new one would",
          "[spare_thread]") {
  take_all_parked();
  park_spare_threads(1); // parked with this thread's mask (SIGUSR2 not blocked) and CPUs
  cpu_set_t old_cpus, one_cpu;
  REQUIRE(sched_getaffinity(0, sizeof old_cpus, &old_cpus) == 0);
  const bool narrower = CPU_COUNT(&old_cpus) > 1; // else the CPUs cannot tell
  int first = 0;
  while (!CPU_ISSET(first, &old_cpus))
    ++first;
  CPU_ZERO(&one_cpu);
  CPU_SET(first, &one_cpu);
  if (narrower)
    REQUIRE(sched_setaffinity(0, sizeof one_cpu, &one_cpu) == 0);
  else
    WARN("one CPU only: the taken thread's CPUs are not checked");
  char old_name[16] = {};
  prctl(PR_GET_NAME, old_name);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &block, &old_mask);
  prctl(PR_SET_NAME, "spare-starter");
  bool blocked = false;
  char name[16] = {};
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  spare_thread t;
  t.start([&] {
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, nullptr, &now);
    blocked = sigismember(&now, SIGUSR2) == 1;
    prctl(PR_GET_NAME, name);
    sched_getaffinity(0, sizeof cpus, &cpus);
  });
  t.join();
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  prctl(PR_SET_NAME, old_name);
  sched_setaffinity(0, sizeof old_cpus, &old_cpus);
  CHECK(blocked);
  CHECK(CPU_EQUAL(&cpus, narrower ? &one_cpu : &old_cpus));
  CHECK(std::string(name) == "spare-starter");
}

TEST_CASE("parked threads never taken do not keep a process from exiting", "[spare_thread]") {
  take_all_parked();
  // exit() as an instance leaves (std::exit), and a return through _exit for good measure.
  for (const bool through_exit : {true, false}) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      park_spare_threads(3);
      if (parked_spare_threads().size() != 3)
        _exit(2);
      if (through_exit)
        std::exit(7);
      _exit(7);
    }
    CHECK(wait_for(pid, std::chrono::seconds(10)) == 7);
  }
}

TEST_CASE("a forked child takes none of its parent's parked threads", "[spare_thread]") {
  if (thread_sanitizer) {
    WARN("SKIPPED under ThreadSanitizer: its child may start no thread after a threaded fork");
    return;
  }
  take_all_parked();
  park_spare_threads(1);
  const auto parked = parked_spare_threads().at(0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Its parent's thread does not exist here: taking it would hang the join (which the
    // timeout below catches). Thread ids cannot tell: glibc reuses the parent's thread stacks
    // in a forked child, and so their ids.
    if (!parked_spare_threads().empty())
      _exit(2);
    spare_thread t;
    bool ran = false;
    t.start([&] { ran = true; });
    t.join();
    _exit(ran ? 0 : 3);
  }
  CHECK(wait_for(pid, std::chrono::seconds(10)) == 0);
  REQUIRE(parked_spare_threads().size() == 1); // still the parent's to take
  CHECK(parked_spare_threads()[0] == parked);
  take_all_parked();
}
