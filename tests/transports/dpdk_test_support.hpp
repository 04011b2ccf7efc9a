#pragma once
// What the shm-dpdk tests share: a node-role transport in this process with recording endpoints,
// and ways to look at its pollers (asleep, their threads' CPU) and to die as a process would.

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

namespace dpdk_test {

using namespace spry::core;
namespace dpdk = spry::transports::dpdk;

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

inline std::string why_not() {
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
inline pid_t run_and_die(const std::function<void()>& f) {
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

inline app_spec with_idle(const std::string& idle, uint32_t spin_us = 200) {
  app_spec app;
  spry::transports::dpdk::dpdk_config d;
  d.idle = idle;
  d.spin_us = spin_us;
  app.transport_settings.set(d.clone());
  return app;
}

// CPU seconds the thread named `comm` of this process has used (user + system), from /proc;
// -1 if there is no such thread.
inline double thread_cpu_seconds(const std::string& comm) {
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
inline bool poller_asleep(dpdk::endpoint_entry* entries, endpoint_id home) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (entries[home].asleep.load() == 1 && entries[home].sleeps.load() > 0)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

// Waits until the poller whose home is `home` has gone to sleep more than `sleeps` times.
inline bool slept_again(dpdk::endpoint_entry* entries, endpoint_id home, uint32_t sleeps) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (entries[home].sleeps.load() > sleeps)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

} // namespace dpdk_test
