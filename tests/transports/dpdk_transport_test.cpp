// shm-dpdk beyond the conformance suite: what happens around its rings when processes come and
// go. Built only with DPDK (tests/CMakeLists.txt), since it reaches into ring and table state
// the way a crashed process would leave it. Needs root and free hugepages; says so and returns
// otherwise. How pollers sleep and are woken: dpdk_wakeup_test.cpp.

#include "tests/transports/dpdk_test_support.hpp"

using namespace spry::core;
using namespace dpdk_test;
namespace dpdk = spry::transports::dpdk;

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
