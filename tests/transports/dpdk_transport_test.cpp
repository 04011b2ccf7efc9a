// shm-dpdk beyond the conformance suite: what happens around its rings when processes come and
// go. Built only with DPDK (tests/CMakeLists.txt), since it reaches into ring and table state
// the way a crashed process would leave it. Needs root and free hugepages; says so and returns
// otherwise.

#include "core/message.hpp"
#include "core/pool.hpp"
#include "core/transport.hpp"
#include "core/transport_registry.hpp"
#include "transports/register.hpp"
#include "transports/shm-dpdk/endpoint_table.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>
#include <rte_memzone.h>
#include <rte_ring.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <regex>
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
  explicit node(uint32_t queue_capacity = 1024) : sys(config()) {
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
          g = {b->request_id, b->status, std::string(message(b, p->buffer_size()).payload())};
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

} // namespace

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

TEST_CASE("shm-dpdk: unbinding fails what is left in the ring back to the gateway",
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
  for (const auto& g : gateway->items) {
    CHECK(g.status == static_cast<uint16_t>(buffer_status::no_route));
    CHECK_THAT(g.payload, Catch::Contains("endpoint 4 is not reachable (it was unbound)"));
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
    CHECK(g.status == static_cast<uint16_t>(buffer_status::no_route));
    CHECK_THAT(g.payload, Catch::Contains("endpoint 5 is not reachable (its instance is gone)"));
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
