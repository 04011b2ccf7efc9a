#pragma once
// The transport conformance suite's harness: one transport of a registered kind over one pool,
// endpoints that record what they get, and the list of every registered transport. Used by
// conformance_test.cpp and conformance_threads_test.cpp.

#include "core/descriptor_sink.hpp"
#include "core/message.hpp"
#include "core/pool.hpp"
#include "core/transport.hpp"
#include "core/transport_registry.hpp"
#include "transports/register.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using namespace spry::core;

namespace spry::test::conformance {

using namespace spry::core;


struct received {
  uint64_t request_id;
  std::string payload;
  uint16_t status;
  uint32_t failed_at = 0;
};

// What a receiving endpoint saw, shared between its actor and the test thread.
struct inbox {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<received> got;

  bool wait_for(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, timeout, [&] { return got.size() >= n; });
  }
  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return got.size();
  }
};

inline caf::actor_system_config& shared_config() {
  static caf::actor_system_config cfg = [] {
    caf::actor_system_config c;
    c.set("scheduler.max-threads", size_t{2});
    return c;
  }();
  return cfg;
}

struct harness {
  explicit harness(const std::string& name, uint32_t queue_capacity = 1 << 20)
    : sys(shared_config()) {
    pool_options o;
    o.name = "conformance";
    o.buffer_count = 1 << 15;
    o.buffer_size = 128;
    o.try_hugepages = false;
    pools.push_back(std::move(*pool::create(o)));
    transport_registry reg;
    spry::transports::register_all(reg);
    transport_context ctx;
    ctx.system = &sys;
    ctx.pools = &pools;
    ctx.max_endpoints = 64;
    ctx.queue_capacity = queue_capacity;
    // A transport that says what this machine lacks (shm-dpdk: hugepages) is skipped with that
    // reason; on CI (root, hugepages reserved) it runs.
    if (const auto* e = reg.find(name); e && e->missing_requirement) {
      if (const auto missing = e->missing_requirement(); !missing.empty()) {
        WARN("SKIPPED: transport " << name << " did not run: " << missing);
        skipped = true;
        return;
      }
    }
    auto t = reg.create(name, ctx);
    if (!t && geteuid() != 0) {
      // Privileged transports (shm-skmsg) cannot run here; on CI (root) this is a failure.
      WARN("SKIPPED: transport " << name << " did not run (not root): " << t.err().message);
      skipped = true;
      return;
    }
    REQUIRE(t);
    tp = std::move(*t);
  }
  bool skipped = false;
  ~harness() {
    if (!tp)
      return;
    tp->stop();
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
    tp.reset();
  }

  /// Binds `id` to an actor that records what it gets and returns the buffer to the pool; with
  /// `ack`, it acknowledges each descriptor at once.
  std::shared_ptr<inbox> endpoint(endpoint_id id, bool ack = true) {
    auto box = std::make_shared<inbox>();
    auto* t = tp.get();
    auto* p = &pools[0];
    auto a = sys.spawn([box, t, p, id, ack](caf::event_based_actor*) -> caf::behavior {
      return {[=](const descriptor& d) {
        if (ack)
          t->consumed(id);
        buffer_header* b = p->resolve(d.offset);
        received r{0, "<invalid buffer>", 0};
        if (b && d.dst == id) {
          r = {b->request_id, std::string(message(b, p->buffer_size()).payload()), b->status,
               b->failed_at};
          p->release(b);
        }
        std::lock_guard<std::mutex> guard{box->mtx};
        box->got.push_back(std::move(r));
        box->cv.notify_all();
      }};
    });
    auto ok = tp->bind(id, a);
    REQUIRE(ok);
    actors.push_back(a);
    return box;
  }

  /// A descriptor for a fresh buffer holding request `n`.
  descriptor make(endpoint_id dst, uint64_t n) {
    buffer_header* b = pools[0].alloc();
    REQUIRE(b);
    b->request_id = n;
    message(b, pools[0].buffer_size()).write("payload " + std::to_string(n));
    return descriptor{dst, 0, 1, pools[0].offset_of(b)};
  }
  /// Takes back the buffer of a descriptor that send() refused.
  void reclaim(const descriptor& d) { pools[0].release(pools[0].resolve(d.offset)); }

  caf::actor_system sys;
  std::vector<pool> pools;
  std::unique_ptr<transport> tp;
  std::vector<caf::actor> actors;
};

inline std::vector<std::string> transport_names() {
  transport_registry reg;
  spry::transports::register_all(reg);
  std::vector<std::string> out;
  for (const auto* e : reg.entries())
    out.push_back(e->name);
  return out;
}

} // namespace spry::test::conformance
