// shm-dpdk beyond the conformance suite: what happens around its rings when processes come and
// go. Built only with DPDK (tests/CMakeLists.txt), since it reaches into ring and table state
// the way a crashed process would leave it. Needs root and free hugepages; says so and returns
// otherwise.

#include "core/app_spec.hpp"
#include "core/message.hpp"
#include "core/pool.hpp"
#include "core/transport.hpp"
#include "core/transport_registry.hpp"
#include "transports/register.hpp"
#include "transports/shm-dpdk/dpdk_config.hpp"
#include "transports/shm-dpdk/endpoint_table.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>
#include <linux/futex.h>
#include <rte_eal_memconfig.h>
#include <rte_memzone.h>
#include <rte_ring.h>

#include <chrono>
#include <condition_variable>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <sys/syscall.h>
#include <poll.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace spry::core;
namespace dpdk = spry::transports::dpdk;

namespace {

struct got {
  uint64_t request_id;
  uint16_t status;
  std::string payload;
  uint32_t failed_at = 0;
};

struct inbox {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<got> items;
  bool wait_for(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, timeout, [&] { return items.size() >= n; });
  }
  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return items.size();
  }
};

std::string why_not() {
  transport_registry reg;
  spry::transports::register_all(reg);
  const auto* e = reg.find("shm-dpdk");
  if (!e)
    return "this build has no shm-dpdk";
  return e->missing_requirement ? e->missing_requirement() : std::string();
}

// One node-role shm-dpdk transport in this process, with a pool and recording endpoints.
struct node {
  // `app`: its dpdk settings (idle mode); none = the defaults.
  explicit node(uint32_t queue_capacity = 1024, const app_spec* app = nullptr) : sys(config()) {
    pool_options o;
    o.name = "dpdk-test";
    o.buffer_count = 256;
    o.buffer_size = 128;
    o.try_hugepages = false;
    pools.push_back(std::move(*pool::create(o)));
    transport_registry reg;
    spry::transports::register_all(reg);
    transport_context ctx;
    ctx.system = &sys;
    ctx.pools = &pools;
    ctx.max_endpoints = 16;
    ctx.queue_capacity = queue_capacity;
    ctx.app = app;
    auto t = reg.create("shm-dpdk", ctx);
    REQUIRE(t);
    tp = std::move(*t);
    // "prefix:P/gen:G": the names of this transport's table and rings.
    std::smatch m;
    const auto params = tp->instance_parameters();
    REQUIRE(std::regex_search(params, m, std::regex("gen:(\\d+)")));
    generation = std::stoull(m[1]);
  }
  ~node() {
    tp->stop();
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
    tp.reset();
  }
  static caf::actor_system_config& config() {
    static caf::actor_system_config cfg = [] {
      caf::actor_system_config c;
      c.set("scheduler.max-threads", size_t{2});
      return c;
    }();
    return cfg;
  }

  std::shared_ptr<inbox> endpoint(endpoint_id id, bool ack = true) {
    auto box = std::make_shared<inbox>();
    auto* t = tp.get();
    auto* p = &pools[0];
    auto a = sys.spawn([box, t, p, id, ack](caf::event_based_actor*) -> caf::behavior {
      return {[=](const descriptor& d) {
        if (ack)
          t->consumed(id);
        got g{0, 0, "<invalid>"};
        if (buffer_header* b = p->resolve(d.offset)) {
          g = {b->request_id, b->status, std::string(message(b, p->buffer_size()).payload()),
               b->failed_at};
          p->release(b);
        }
        std::lock_guard<std::mutex> guard{box->mtx};
        box->items.push_back(std::move(g));
        box->cv.notify_all();
      }};
    });
    REQUIRE(tp->bind(id, a));
    actors.push_back(a);
    return box;
  }

  descriptor make(endpoint_id dst, uint64_t n) {
    buffer_header* b = pools[0].alloc();
    REQUIRE(b);
    b->request_id = n;
    message(b, pools[0].buffer_size()).write("payload " + std::to_string(n));
    return descriptor{dst, 0, tag_of(n), pools[0].offset_of(b)};
  }

  rte_ring* ring(endpoint_id id) const {
    return rte_ring_lookup(dpdk::ring_name(generation, id).c_str());
  }
  dpdk::endpoint_entry* entries() const {
    const rte_memzone* z = rte_memzone_lookup(dpdk::table_name(generation).c_str());
    REQUIRE(z);
    return reinterpret_cast<dpdk::endpoint_entry*>(static_cast<dpdk::table_header*>(z->addr) + 1);
  }
  uint64_t queued(endpoint_id id) const {
    for (const auto& t : tp->traffic())
      if (t.endpoint == id)
        return t.queued;
    return 0;
  }

  caf::actor_system sys;
  std::vector<pool> pools;
  std::unique_ptr<transport> tp;
  uint64_t generation = 0;
  std::vector<caf::actor> actors;
};

// Runs `f` in a forked child that shares this process's DPDK memory (the mappings are inherited)
// and exits as a killed process would: without cleaning anything up.
pid_t run_and_die(const std::function<void()>& f) {
  const pid_t pid = fork();
  if (pid == 0) {
    f();
    _exit(0);
  }
  REQUIRE(pid > 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return pid;
}

app_spec with_idle(const std::string& idle, uint32_t spin_us = 200) {
  app_spec app;
  spry::transports::dpdk::dpdk_config d;
  d.idle = idle;
  d.spin_us = spin_us;
  app.transport_settings.set(d.clone());
  return app;
}

// CPU seconds the thread named `comm` of this process has used (user + system), from /proc;
// -1 if there is no such thread.
double thread_cpu_seconds(const std::string& comm) {
  DIR* dir = opendir("/proc/self/task");
  if (!dir)
    return -1;
  double out = -1;
  while (dirent* d = readdir(dir)) {
    const std::string task = std::string("/proc/self/task/") + d->d_name;
    std::string name;
    std::getline(std::ifstream(task + "/comm"), name);
    if (name != comm)
      continue;
    std::string stat;
    std::getline(std::ifstream(task + "/stat"), stat);
    // Fields after the ")" that closes the name: state is field 3, utime 14, stime 15.
    std::istringstream in(stat.substr(stat.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
      if (i == 14)
        utime = std::stoull(field);
      if (i == 15)
        stime = std::stoull(field);
    }
    out = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  closedir(dir);
  return out;
}

// Waits until the poller whose home is endpoint `home` has announced that it sleeps.
bool poller_asleep(dpdk::endpoint_entry* entries, endpoint_id home) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (entries[home].asleep.load() == 1 && entries[home].sleeps.load() > 0)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

// Waits until the poller whose home is `home` has gone to sleep more than `sleeps` times.
bool slept_again(dpdk::endpoint_entry* entries, endpoint_id home, uint32_t sleeps) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (entries[home].sleeps.load() > sleeps)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

} // namespace

TEST_CASE("shm-dpdk: every idle mode delivers every descriptor", "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  for (const char* idle : {"adaptive", "spin", "yield"}) {
    INFO("dpdk.idle: " << idle);
    const app_spec app = with_idle(idle, 0);
    node n(1024, &app);
    auto box = n.endpoint(2);
    for (uint64_t i = 0; i < 200; ++i)
      REQUIRE(n.tp->send(n.make(2, i)) == send_status::ok);
    REQUIRE(box->wait_for(200));
    for (uint64_t i = 0; i < 200; ++i)
      CHECK(box->items[i].request_id == i);
    CHECK(n.entries()[2].missed_wakes.load() == 0);
    // Only an adaptive poller ever sleeps.
    if (std::string(idle) != "adaptive")
      CHECK(n.entries()[2].sleeps.load() == 0);
  }
}

TEST_CASE("shm-dpdk: an adaptive poller sleeps when its rings are quiet, burns no CPU asleep, "
          "and a send wakes it",
          "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  node n; // the default: adaptive
  auto box = n.endpoint(2); // the first endpoint bound: its entry is the poller's home
  auto* entries = n.entries();
  REQUIRE(poller_asleep(entries, 2));
  // Asleep for a second: the poller thread's CPU time barely moves (a spinning or yielding
  // poller uses the whole second, less only what other threads take from it).
  const double before = thread_cpu_seconds("spry-dpdk-poll");
  REQUIRE(before >= 0);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double used = thread_cpu_seconds("spry-dpdk-poll") - before;
  CHECK(used < 0.1);
  // Each send wakes it (the sender takes `asleep` back), and it falls asleep again after.
  for (uint64_t i = 0; i < 5; ++i) {
    REQUIRE(poller_asleep(entries, 2));
    const uint32_t sleeps = entries[2].sleeps.load();
    const uint32_t bell = entries[2].doorbell.load();
    REQUIRE(n.tp->send(n.make(2, i)) == send_status::ok);
    REQUIRE(box->wait_for(i + 1));
    CHECK(entries[2].doorbell.load() != bell); // the sender rang
    REQUIRE(slept_again(entries, 2, sleeps));
  }
  // A second endpoint of the same process rings the same poller.
  auto other = n.endpoint(3);
  CHECK(entries[3].poller.load() == 2);
  REQUIRE(poller_asleep(entries, 2));
  REQUIRE(n.tp->send(n.make(3, 42)) == send_status::ok);
  REQUIRE(other->wait_for(1));
  CHECK(entries[2].missed_wakes.load() == 0);
  CHECK(n.pools[0].stats().in_use == 0);
}

TEST_CASE("shm-dpdk: sends held by a thread ring a sleeping poller once, at the flush, and "
          "their descriptors are in the ring before it",
          "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  node n;
  auto box = n.endpoint(2);
  auto* entries = n.entries();
  REQUIRE(poller_asleep(entries, 2));
  const uint32_t bell = entries[2].doorbell.load();
  REQUIRE(n.tp->hold_sends());
  CHECK_FALSE(n.tp->hold_sends()); // one hold per thread
  for (uint64_t i = 0; i < 40; ++i)
    REQUIRE(n.tp->send(n.make(2, i)) == send_status::ok);
  // Nobody rang: the poller is still asleep (unless its safety timeout woke it, which does not
  // move the doorbell), and the descriptors wait in its ring.
  CHECK(entries[2].doorbell.load() == bell);
  CHECK(entries[2].asleep.load() == 1);
  n.tp->flush_sends();
  CHECK(entries[2].doorbell.load() == bell + 1); // one ring for all forty
  REQUIRE(box->wait_for(40));
  for (uint64_t i = 0; i < 40; ++i)
    CHECK(box->items[i].request_id == i);
  // No hold now: a send rings at once again.
  REQUIRE(poller_asleep(entries, 2));
  const uint32_t after = entries[2].doorbell.load();
  REQUIRE(n.tp->send(n.make(2, 99)) == send_status::ok);
  CHECK(entries[2].doorbell.load() == after + 1);
  REQUIRE(box->wait_for(41));
  CHECK(entries[2].missed_wakes.load() == 0);
}

TEST_CASE("shm-dpdk: an event loop takes an endpoint's delivery over: its poller stops, senders "
          "here and in other processes wake it through the eventfd, and giving it back restarts "
          "the poller",
          "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  node n;
  auto box = n.endpoint(2);
  auto* entries = n.entries();
  REQUIRE(poller_asleep(entries, 2)); // it has run (and named itself)
  REQUIRE(thread_cpu_seconds("spry-dpdk-poll") >= 0);
  const int fd = n.tp->take_delivery(2);
  REQUIRE(fd >= 0);
  CHECK(fd == n.tp->instance_fd()); // the one every instance inherits
  CHECK(n.tp->take_delivery(2) == -1); // taken already
  CHECK(thread_cpu_seconds("spry-dpdk-poll") < 0); // no poller thread left
  CHECK(entries[2].wakes_by_fd.load() == 1);
  auto readable = [fd](int ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) == 1;
  };
  n.tp->drain_owned(2); // the owner's first drain, before its first wait: announces the wait
  CHECK(entries[2].asleep.load() == 1);
  CHECK_FALSE(readable(0));

  // A send from this process: the eventfd becomes readable, the owner's drain delivers it.
  REQUIRE(n.tp->send(n.make(2, 1)) == send_status::ok);
  REQUIRE(readable(5000));
  n.tp->drain_owned(2);
  REQUIRE(box->wait_for(1));
  CHECK_FALSE(readable(0)); // the drain read the eventfd back to zero

  // A send from another process (a forked child has the eventfd at the same number, as an
  // instance has the one it inherited).
  const descriptor d = n.make(2, 2);
  run_and_die([&] { (void)n.tp->send(d); });
  REQUIRE(readable(5000));
  n.tp->drain_owned(2);
  REQUIRE(box->wait_for(2));
  CHECK(box->items[1].request_id == 2);

  // Many sends between two drains: every one delivered by the next drain, in order.
  for (uint64_t i = 3; i < 103; ++i)
    REQUIRE(n.tp->send(n.make(2, i)) == send_status::ok);
  REQUIRE(readable(5000));
  n.tp->drain_owned(2);
  REQUIRE(box->wait_for(102));
  for (uint64_t i = 0; i < 102; ++i)
    CHECK(box->items[i].request_id == i + 1);

  // Given back: the poller delivers again, what waited included.
  REQUIRE(n.tp->send(n.make(2, 103)) == send_status::ok);
  n.tp->return_delivery(2);
  CHECK(entries[2].wakes_by_fd.load() == 0);
  REQUIRE(box->wait_for(103));
  CHECK(thread_cpu_seconds("spry-dpdk-poll") >= 0);
  REQUIRE(n.tp->send(n.make(2, 104)) == send_status::ok);
  REQUIRE(box->wait_for(104));
  CHECK(entries[2].missed_wakes.load() == 0);
}

TEST_CASE("shm-dpdk: an endpoint's delivery stays with the poller while it polls other "
          "endpoints of the process",
          "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  node n;
  auto a = n.endpoint(2);
  auto b = n.endpoint(3);
  CHECK(n.tp->take_delivery(2) == -1);
  REQUIRE(n.tp->send(n.make(2, 1)) == send_status::ok);
  REQUIRE(a->wait_for(1));
}

TEST_CASE("shm-dpdk: an endpoint bound while another's delivery is taken over gets a poller, "
          "which takes both once the delivery is given back",
          "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  node n;
  auto a = n.endpoint(2);
  REQUIRE(n.tp->take_delivery(2) >= 0);
  n.tp->drain_owned(2);
  auto b = n.endpoint(3); // a poller again, for 3 only
  REQUIRE(n.tp->send(n.make(3, 1)) == send_status::ok);
  REQUIRE(b->wait_for(1));
  // 2 stays the owner's: the poller leaves its ring alone.
  REQUIRE(n.tp->send(n.make(2, 2)) == send_status::ok);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(a->size() == 0);
  n.tp->return_delivery(2); // the running poller takes 2 over, what waits included
  REQUIRE(a->wait_for(1));
  CHECK(a->items[0].request_id == 2);
  REQUIRE(n.tp->send(n.make(2, 3)) == send_status::ok);
  REQUIRE(a->wait_for(2));
  CHECK(n.entries()[2].poller.load() == 3); // rung through the poller's home now
}

TEST_CASE("shm-dpdk: no wake-up is lost when senders race a poller falling asleep",
          "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  // spin_us 0: the poller tries to sleep after every few empty polls, so sends keep landing in
  // the window between its last look at the ring and its sleep.
  const app_spec app = with_idle("adaptive", 0);
  node n(1024, &app);
  auto box = n.endpoint(2);
  constexpr uint64_t per_sender = 1500;
  auto sender = [&](uint64_t base, unsigned gap) {
    volatile unsigned sink = 0;
    for (uint64_t i = 0; i < per_sender; ++i) {
      // The pool is smaller than what is sent: wait for the receiver to release buffers (and
      // no REQUIRE off the test's thread).
      buffer_header* buf;
      while (!(buf = n.pools[0].alloc()))
        std::this_thread::yield();
      buf->request_id = base + i;
      const descriptor d{2, 0, tag_of(base + i), n.pools[0].offset_of(buf)};
      while (n.tp->send(d) != send_status::ok)
        std::this_thread::yield();
      // Uneven gaps, by work, not sleeps: mostly shorter than the poller's few microseconds of
      // polling before it sleeps, now and then longer, so it sleeps mid-stream too.
      const unsigned work = i % 50 == 0 ? 200000 : gap * static_cast<unsigned>(i % 7);
      for (unsigned k = 0; k < work; ++k)
        sink = sink + k;
    }
  };
  std::thread a(sender, 0, 300), b(sender, 100000, 1100);
  a.join();
  b.join();
  REQUIRE(box->wait_for(2 * per_sender, std::chrono::seconds(30)));
  CHECK(n.entries()[2].sleeps.load() > 0); // it did fall asleep between sends
  CHECK(n.entries()[2].missed_wakes.load() == 0);
  CHECK(n.pools[0].stats().in_use == 0);
}

TEST_CASE("shm-dpdk: no wake-up is lost for endpoints bound while their poller sleeps or as late "
          "senders ring it",
          "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  const app_spec app = with_idle("adaptive", 0); // tries to sleep after every few empty polls
  node n(1024, &app);
  auto home = n.endpoint(2); // the poller's home: every endpoint bound later rings it
  auto* entries = n.entries();
  auto& h = entries[2];
  // Late wake-ups: what a sender does when the poller took its descriptor before the sender got
  // to its wake-up - it still finds `asleep` set, takes it and rings. In a loop, some land just
  // as the poller announces its next sleep, which is where a wake-up used to be spent on
  // nothing and the next sender's lost (see "Why no wake-up is lost" in the transport).
  std::atomic<bool> late_on{false}, done{false};
  std::thread late([&] {
    while (!done.load()) {
      if (late_on.load() && h.asleep.load() && h.asleep.exchange(0)) {
        h.doorbell.fetch_add(1);
        syscall(SYS_futex, reinterpret_cast<uint32_t*>(&h.doorbell), FUTEX_WAKE, INT32_MAX,
                nullptr, nullptr, 0);
      } else {
        std::this_thread::yield();
      }
    }
  });
  constexpr int rounds = 240;
  std::vector<std::shared_ptr<inbox>> boxes(16);
  int delivered = 0;
  for (int k = 0; k < rounds; ++k) {
    const endpoint_id id = static_cast<endpoint_id>(3 + k % 12);
    if (boxes[id])
      n.tp->unbind(id);
    // Every other round without late wake-ups, bound only once the poller sleeps.
    late_on.store(k % 2 == 0);
    if (k % 2 == 1)
      REQUIRE(poller_asleep(entries, 2));
    boxes[id] = n.endpoint(id);
    REQUIRE(n.tp->send(n.make(id, static_cast<uint64_t>(k))) == send_status::ok);
    delivered += boxes[id]->wait_for(1) ? 1 : 0;
    CHECK(entries[id].poller.load() == 2);
  }
  done.store(true);
  late.join();
  CHECK(delivered == rounds);
  CHECK(h.sleeps.load() > 0);
  CHECK(h.missed_wakes.load() == 0); // no sleep ended by its timeout with a descriptor waiting
  CHECK(home->size() == 0);
}

TEST_CASE("shm-dpdk: transports come and go in one process, on one EAL, without leaking rings",
          "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  // DPDK initialises its EAL once per process; each transport makes and frees its own rings.
  // 60 transports of 16 rings would exhaust the EAL's memzones (2560) if rings leaked.
  for (int round = 0; round < 60; ++round) {
    node n;
    auto box = n.endpoint(2);
    REQUIRE(n.tp->send(n.make(2, static_cast<uint64_t>(round))) == send_status::ok);
    REQUIRE(box->wait_for(1));
    CHECK(box->items[0].request_id == static_cast<uint64_t>(round));
    CHECK(n.pools[0].stats().in_use == 0);
  }
}

TEST_CASE("shm-dpdk: queue depth is shared, and a full endpoint's ring holds the surplus",
          "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  node n(/*queue_capacity=*/4);
  auto slow = n.endpoint(3, /*ack=*/false);
  for (uint64_t i = 0; i < 10; ++i)
    REQUIRE(n.tp->send(n.make(3, i)) == send_status::ok);
  REQUIRE(slow->wait_for(4));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(slow->size() == 4);
  CHECK(n.tp->queue_depth(3) == 4);
  CHECK(n.entries()[3].depth.get() == 4); // what other processes read
  CHECK(n.queued(3) == 6);                // the rest waits in the ring
  // As the actor catches up, the poller takes the rest from the ring.
  size_t consumed = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (slow->size() < 10 && std::chrono::steady_clock::now() < deadline) {
    for (; consumed < slow->size(); ++consumed)
      n.tp->consumed(3);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (; consumed < slow->size(); ++consumed)
    n.tp->consumed(3);
  CHECK(slow->size() == 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(n.queued(3) == 0);
  CHECK(n.tp->queue_depth(3) == 0);
}

TEST_CASE("shm-dpdk: unbinding returns what is left in the ring to the gateway undelivered",
          "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  node n(/*queue_capacity=*/2);
  auto gateway = n.endpoint(gateway_endpoint);
  auto slow = n.endpoint(4, /*ack=*/false);
  for (uint64_t i = 0; i < 6; ++i)
    REQUIRE(n.tp->send(n.make(4, i)) == send_status::ok);
  REQUIRE(slow->wait_for(2));
  n.tp->unbind(4);
  REQUIRE(gateway->wait_for(4));
  // Never taken from the ring: back as they were sent, for the gateway to send on.
  for (const auto& g : gateway->items) {
    CHECK(g.status == static_cast<uint16_t>(buffer_status::undelivered));
    CHECK(g.failed_at == 4);
    CHECK(g.payload == "payload " + std::to_string(g.request_id));
  }
  CHECK(n.queued(4) == 0);
  auto d = n.make(4, 99);
  CHECK(n.tp->send(d) == send_status::unknown_endpoint);
  n.pools[0].release(n.pools[0].resolve(d.offset));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(n.pools[0].stats().in_use == 0);
}

TEST_CASE("shm-dpdk: the ring of a dead instance is drained back to the gateway, and its "
          "endpoint refuses sends until it is bound again",
          "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  node n;
  auto gateway = n.endpoint(gateway_endpoint);
  auto* entries = n.entries();
  // An "instance" binds endpoint 5 and dies without reading its ring.
  const pid_t dead = run_and_die([&] {
    entries[5].seen.store(1); // as bind() does
    entries[5].pid.store(getpid());
  });
  REQUIRE(entries[5].pid.load() == dead);
  for (uint64_t i = 0; i < 7; ++i)
    REQUIRE(n.tp->send(n.make(5, i)) == send_status::ok);
  CHECK(n.queued(5) == 7);
  n.tp->remove_peer(5); // what the node does when the supervisor reaped the instance
  REQUIRE(gateway->wait_for(7));
  for (const auto& g : gateway->items) {
    CHECK(g.status == static_cast<uint16_t>(buffer_status::undelivered));
    CHECK(g.failed_at == 5);
    CHECK(g.payload == "payload " + std::to_string(g.request_id));
  }
  CHECK(n.queued(5) == 0);
  CHECK(entries[5].pid.load() == 0);
  auto d = n.make(5, 100);
  CHECK(n.tp->send(d) == send_status::unknown_endpoint);
  n.pools[0].release(n.pools[0].resolve(d.offset));
  // Its restart binds it again, and it works.
  auto back = n.endpoint(5);
  REQUIRE(n.tp->send(n.make(5, 101)) == send_status::ok);
  REQUIRE(back->wait_for(1));
  CHECK(back->items[0].request_id == 101);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(n.pools[0].stats().in_use == 0);
}

TEST_CASE("shm-dpdk: a ring slot claimed by a process that died before publishing it is "
          "released, and no sender waits forever",
          "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  node n;
  auto box = n.endpoint(6);
  rte_ring* r = n.ring(6);
  REQUIRE(r);
  // A producer claims one slot (moves prod.head) and is killed before it publishes (prod.tail).
  run_and_die([&] { __atomic_fetch_add(&r->prod.head, 1, __ATOMIC_ACQ_REL); });
  CHECK(n.queued(6) == 1);
  // A live sender now claims the next slot and must wait for the dead one's tail.
  const descriptor live = n.make(6, 7);
  auto sent = std::async(std::launch::async, [&] { return n.tp->send(live); });
  CHECK(sent.wait_for(std::chrono::milliseconds(100)) == std::future_status::timeout);
  // The node learns that a process died (any endpoint): it releases the dead claim.
  n.tp->remove_peer(9);
  REQUIRE(sent.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(sent.get() == send_status::ok);
  REQUIRE(box->wait_for(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(box->size() == 1); // the dead slot held no live descriptor: dropped, not delivered
  CHECK(box->items[0].request_id == 7);
  CHECK(n.queued(6) == 0);
  CHECK(n.pools[0].stats().in_use == 0);
}

// Runs the test case named `name` of this binary in a new process with `env` set; its exit
// status, or nullopt if it did not exit within `within` (it is then SIGKILLed).
std::optional<int> run_in_new_process(const std::string& name, const char* env,
                                      std::chrono::seconds within) {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    setenv(env, "1", 1);
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execl("/proc/self/exe", "spry_transport_tests", name.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + within;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status;
}

TEST_CASE("shm-dpdk: a process exits although another died inside rte_eal_init holding the "
          "EAL's memory lock",
          "[shm-dpdk]") {
  if (auto missing = why_not(); !missing.empty()) {
    WARN("SKIPPED: shm-dpdk did not run: " << missing);
    return;
  }
  constexpr const char* child_env = "SPRY_TEST_EAL_EXIT_CHILD";
  if (std::getenv(child_env)) {
    // In the new process: a node (the EAL primary), and a process sharing its DPDK memory that
    // dies the way a secondary SIGKILLed inside rte_eal_init() does - between its memory set-up
    // and its heap set-up, holding a read lock on the EAL's memory hotplug lock. Then exit.
    node n;
    run_and_die([] { rte_mcfg_mem_read_lock(); });
    return;
  }
  // rte_eal_cleanup() at exit would wait for that reader for ever (DPDK's locks in shared
  // memory do not recover from a dead holder).
  const auto status = run_in_new_process(Catch::getResultCapture().getCurrentTestName(),
                                         child_env, std::chrono::seconds(30));
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}
