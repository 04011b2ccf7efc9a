#include "core/spare_thread.hpp"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>

namespace spry::core {

namespace {

// Between a parked thread and the one that takes it: the work, and what a new thread would have
// inherited from that starter. Written under the parking's mutex before `given` is set.
struct hand_over {
  std::condition_variable wake;
  bool parked = false; // the thread made its arena and waits
  bool given = false;
  std::function<void()> work;
  sigset_t mask;
  cpu_set_t cpus;
  bool has_cpus = false;
  char name[16] = {}; // PR_GET_NAME's size
};

struct parked_thread {
  std::thread thread;
  std::shared_ptr<hand_over> slot;
};

struct parking {
  std::mutex mtx;
  std::condition_variable parked; // a thread announced that it waits
  std::deque<parked_thread> threads; // oldest first
  pid_t pid = 0;                     // the process that parked them
};

// Never destroyed: parked threads wait on it while exit() runs the static destructors, and their
// std::thread objects, still joinable, must never be destroyed (std::terminate).
parking& the_parking() {
  static parking* p = new parking;
  return *p;
}

void park(std::shared_ptr<hand_over> s) {
  // This thread's malloc arena (and tcache), made now instead of by the first allocation of the
  // work it takes. volatile: an unused malloc/free pair may be optimised away.
  void* volatile arena_maker = std::malloc(1);
  std::free(arena_maker);
  auto& k = the_parking();
  std::function<void()> work;
  {
    std::unique_lock<std::mutex> lock{k.mtx};
    s->parked = true;
    k.parked.notify_all();
    s->wake.wait(lock, [&] { return s->given; });
    work = std::move(s->work);
  }
  pthread_sigmask(SIG_SETMASK, &s->mask, nullptr);
  if (s->has_cpus) {
    cpu_set_t now;
    if (sched_getaffinity(0, sizeof now, &now) != 0 || !CPU_EQUAL(&now, &s->cpus))
      sched_setaffinity(0, sizeof s->cpus, &s->cpus);
  }
  prctl(PR_SET_NAME, s->name);
  s.reset();
  work();
}

} // namespace

void park_spare_threads(size_t n) {
  auto& k = the_parking();
  std::unique_lock<std::mutex> lock{k.mtx};
  if (k.pid != getpid()) {
    // Parked by the process this one was forked from: those threads do not exist here. Their
    // std::thread objects are left alone (destroying a joinable one terminates).
    if (!k.threads.empty())
      new std::deque<parked_thread>(std::move(k.threads));
    k.threads.clear();
    k.pid = getpid();
  }
  std::vector<std::shared_ptr<hand_over>> mine;
  for (size_t i = 0; i < n; ++i) {
    auto s = std::make_shared<hand_over>();
    k.threads.push_back({std::thread(park, s), s});
    mine.push_back(std::move(s));
  }
  k.parked.wait(lock, [&] {
    for (const auto& s : mine)
      if (!s->parked)
        return false;
    return true;
  });
}

std::vector<std::thread::id> parked_spare_threads() {
  auto& k = the_parking();
  std::lock_guard<std::mutex> lock{k.mtx};
  std::vector<std::thread::id> ids;
  if (k.pid == getpid())
    for (const auto& t : k.threads)
      ids.push_back(t.thread.get_id());
  return ids;
}

void spare_thread::start(std::function<void()> f) {
  auto& k = the_parking();
  std::unique_lock<std::mutex> lock{k.mtx};
  if (k.threads.empty() || k.pid != getpid()) {
    lock.unlock();
    thread_ = std::thread(std::move(f));
    return;
  }
  parked_thread t = std::move(k.threads.front());
  k.threads.pop_front();
  auto& s = *t.slot;
  pthread_sigmask(SIG_SETMASK, nullptr, &s.mask);
  s.has_cpus = pthread_getaffinity_np(pthread_self(), sizeof s.cpus, &s.cpus) == 0;
  prctl(PR_GET_NAME, s.name);
  s.work = std::move(f);
  s.given = true;
  s.wake.notify_one();
  thread_ = std::move(t.thread);
}

} // namespace spry::core
