#include "transports/shm-dpdk/hop_bench.hpp"
#include "transports/hop_pinger.hpp"

#include "core/clock.hpp"
#include "core/descriptor.hpp"
#include "core/pool.hpp"
#include "core/transport.hpp"
#include "transports/shm-dpdk/dpdk_transport.hpp"
#include "transports/shm-dpdk/eal.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <rte_errno.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace spry::transports::dpdk {

namespace {

constexpr const char* role_variable = "SPRY_DPDK_HOPS";
constexpr int child_pool_fd = 3;
constexpr unsigned warmup = 2000;
// Markers on the raw rings (the `tag` field; real pings carry 0).
constexpr uint16_t ping_tag = 0, ready_tag = 1, stop_raw_tag = 2, bound_tag = 3, quit_tag = 4;

std::atomic<uint64_t> next_run{1};

std::string raw_ring_name(uint64_t run, const char* dir) {
  return "spryhops" + std::to_string(run) + "_" + dir;
}

void put(rte_ring* r, uint16_t tag) {
  core::descriptor d{0, 0, tag, 0};
  while (rte_ring_mp_enqueue_elem(r, &d, sizeof d) != 0)
    rte_pause();
}

// Waits (spinning) for the next element; false after `timeout`.
bool take(rte_ring* r, core::descriptor& d, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  unsigned spins = 0;
  while (rte_ring_sc_dequeue_elem(r, &d, sizeof d) != 0) {
    rte_pause();
    if (++spins % 4096 == 0 && std::chrono::steady_clock::now() > deadline)
      return false;
  }
  return true;
}

// Both sides configure CAF like an instance process does (core/runtime.cpp), so the transport
// hop costs what it costs in a chain.
std::unique_ptr<caf::actor_system_config> actor_config(size_t threads) {
  auto cfg = std::make_unique<caf::actor_system_config>();
  cfg->set("scheduler.max-threads", threads);
  cfg->set("logger.verbosity", caf::atom("quiet"));
  cfg->set("work-stealing.moderate-poll-attempts", size_t{0});
  cfg->set("work-stealing.relaxed-sleep-duration", caf::timespan{std::chrono::seconds(1)});
  return cfg;
}

// The pinging endpoint: measures each round trip from the t_sent_ns it wrote into the buffer.
} // namespace

core::expected<std::vector<core::hop_measurement>> measure_hops(unsigned round_trips) {
  eal_options o;
  o.primary = true;
  o.app_name = "hops";
  o.memory_mb = 64;
  auto e = eal::acquire(o);
  if (!e)
    return e.err();
  const uint64_t run = next_run.fetch_add(1);
  rte_ring* ping = rte_ring_create_elem(raw_ring_name(run, "ping").c_str(), sizeof(core::descriptor),
                                        1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
  rte_ring* pong = rte_ring_create_elem(raw_ring_name(run, "pong").c_str(), sizeof(core::descriptor),
                                        1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
  if (!ping || !pong) {
    rte_ring_free(ping);
    rte_ring_free(pong);
    return core::make_error(std::string("hop benchmark: cannot create its rings: ") +
                            rte_strerror(rte_errno));
  }
  auto free_rings = [&] {
    rte_ring_free(ping);
    rte_ring_free(pong);
  };

  // -- the transport's endpoint 1, and a pool both processes map --------------------------------
  core::pool_options po;
  po.name = "spry-hops";
  po.buffer_count = 16;
  po.buffer_size = 64;
  po.try_hugepages = false;
  auto made = core::pool::create(po);
  if (!made) {
    free_rings();
    return made.err();
  }
  std::vector<core::pool> pools;
  pools.push_back(std::move(*made));
  auto cfg = actor_config(2); // the gateway's side: as many workers as a gateway on this machine
  caf::actor_system sys{*cfg};
  core::transport_context ctx;
  ctx.system = &sys;
  ctx.pools = &pools;
  ctx.max_endpoints = 8;
  ctx.queue_capacity = 1024;
  auto tp = make_transport(ctx);
  if (!tp) {
    free_rings();
    return tp.err();
  }

  // -- the child ---------------------------------------------------------------------------------
  const std::string role = std::string(role_variable) + "=prefix:" + (*e)->file_prefix() +
                           "/run:" + std::to_string(run) + "/transport:" +
                           [&] {
                             // instance_parameters() separates with '/' too: re-encode its
                             // items with '+' so they survive as one value here.
                             std::string p = (*tp)->instance_parameters();
                             std::replace(p.begin(), p.end(), '/', '+');
                             return p;
                           }();
  std::vector<std::string> env_store;
  for (char** env = environ; *env; ++env)
    if (std::strncmp(*env, role_variable, std::strlen(role_variable)) != 0)
      env_store.emplace_back(*env);
  env_store.push_back(role);
  std::vector<char*> envp;
  for (auto& s : env_store)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  char self[] = "/proc/self/exe";
  char* argv[] = {self, nullptr};
  const int pool_fd = pools[0].fd();
  const pid_t child = fork();
  if (child < 0) {
    free_rings();
    return core::make_error(std::string("hop benchmark: fork: ") + strerror(errno));
  }
  if (child == 0) {
    dup2(pool_fd, child_pool_fd); // dup2 clears close-on-exec on the copy
    execve(self, argv, envp.data());
    _exit(127);
  }
  auto reap = [&] {
    int status = 0;
    for (int i = 0; i < 500 && waitpid(child, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (waitpid(child, &status, WNOHANG) == 0) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
    }
  };
  auto fail = [&](const std::string& why) -> core::expected<std::vector<core::hop_measurement>> {
    kill(child, SIGKILL);
    reap();
    (*tp)->stop();
    free_rings();
    return core::make_error("hop benchmark: " + why);
  };

  // -- 1. bare ring ping-pong --------------------------------------------------------------------
  core::descriptor d{};
  if (!take(pong, d, std::chrono::seconds(20)) || d.tag != ready_tag)
    return fail("the child process did not attach to the EAL (see its messages above)");
  std::vector<uint64_t> raw;
  raw.reserve(round_trips);
  for (unsigned i = 0; i < warmup + round_trips; ++i) {
    const uint64_t t0 = core::now_ns();
    put(ping, ping_tag);
    if (!take(pong, d, std::chrono::seconds(5)))
      return fail("the child stopped answering on the bare rings");
    if (i >= warmup)
      raw.push_back((core::now_ns() - t0) / 2);
  }
  put(ping, stop_raw_tag);

  // -- 2. the transport's hop --------------------------------------------------------------------
  if (!take(pong, d, std::chrono::seconds(20)) || d.tag != bound_tag)
    return fail("the child did not bind its shm-dpdk endpoint");
  auto via_mailbox = std::make_shared<pinger_state>();
  auto via_inline = std::make_shared<pinger_state>();
  auto p_mailbox = make_pinger(sys, hop_sink::mailbox, via_mailbox, tp->get(), &pools[0], 1, 2,
                               warmup, round_trips);
  auto p_inline = make_pinger(sys, hop_sink::inline_run, via_inline, tp->get(), &pools[0], 3, 4,
                              warmup, round_trips);
  bool ok = (*tp)->bind(1, p_mailbox) && (*tp)->bind(3, p_inline);
  // One ping-pong at a time, so that neither competes with the other for the two cores.
  ok = ok && run_ping_pong(**tp, pools[0], *via_mailbox, 2) &&
       run_ping_pong(**tp, pools[0], *via_inline, 4);
  put(ping, quit_tag);
  (*tp)->stop();
  for (auto& sink : {p_mailbox, p_inline})
    caf::anon_send_exit(sink->actor(), caf::exit_reason::user_shutdown);
  sys.await_all_actors_done();
  reap();
  free_rings();
  if (!ok)
    return core::make_error("hop benchmark: the transport ping-pong did not complete");
  std::vector<core::hop_measurement> out;
  out.push_back(core::hop_measurement::of("bare rte_ring ping-pong, primary <-> secondary (spinning)", std::move(raw)));
  out.push_back(core::hop_measurement::of("shm-dpdk hop, mailbox: ring -> poller -> actor mailbox",
                                          std::move(via_mailbox->samples)));
  out.push_back(core::hop_measurement::of("shm-dpdk hop, inline: ring -> poller runs the handler",
                                          std::move(via_inline->samples)));
  return out;
}

std::optional<int> hop_bench_role_main() {
  const char* value = std::getenv(role_variable);
  if (!value)
    return std::nullopt;
  prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the benchmark
  // "prefix:P/run:N/transport:T", T being the node's instance parameters with '/' as '+'.
  const std::string text = value;
  std::map<std::string, std::string> kv;
  size_t pos = 0;
  while (pos <= text.size()) {
    const auto slash = text.find('/', pos);
    const auto item = text.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    const auto colon = item.find(':');
    if (colon != std::string::npos)
      kv[item.substr(0, colon)] = item.substr(colon + 1);
    if (slash == std::string::npos)
      break;
    pos = slash + 1;
  }
  if (!kv.count("prefix") || !kv.count("run") || !kv.count("transport")) {
    std::fprintf(stderr, "%s is malformed: '%s'\n", role_variable, text.c_str());
    return 2;
  }
  eal_options o;
  o.primary = false;
  o.file_prefix = kv["prefix"];
  auto e = eal::acquire(o);
  if (!e) {
    std::fprintf(stderr, "hop benchmark child: %s\n", e.err().message.c_str());
    return 1;
  }
  const uint64_t run = std::stoull(kv["run"]);
  rte_ring* ping = rte_ring_lookup(raw_ring_name(run, "ping").c_str());
  rte_ring* pong = rte_ring_lookup(raw_ring_name(run, "pong").c_str());
  if (!ping || !pong) {
    std::fprintf(stderr, "hop benchmark child: the rings are not there\n");
    return 1;
  }
  // 1. Echo every ping until told to stop.
  put(pong, ready_tag);
  core::descriptor d{};
  for (;;) {
    if (!take(ping, d, std::chrono::seconds(30)))
      return 1;
    if (d.tag == stop_raw_tag)
      break;
    put(pong, ping_tag);
  }
  // 2. Endpoint 2 of the transport: send every descriptor straight back to endpoint 1.
  auto pool = core::pool::attach(child_pool_fd);
  if (!pool) {
    std::fprintf(stderr, "hop benchmark child: %s\n", pool.err().message.c_str());
    return 1;
  }
  close(child_pool_fd);
  std::vector<core::pool> pools;
  pools.push_back(std::move(*pool));
  auto cfg = actor_config(1); // an instance of concurrency 1 runs one worker
  int code = 0;
  {
    caf::actor_system sys{*cfg};
    core::transport_context ctx;
    ctx.system = &sys;
    ctx.pools = &pools;
    ctx.max_endpoints = 8;
    ctx.queue_capacity = 1024;
    ctx.instance_role = true;
    ctx.node_parameters = kv["transport"];
    std::replace(ctx.node_parameters.begin(), ctx.node_parameters.end(), '+', '/');
    auto tp = make_transport(ctx);
    if (!tp) {
      std::fprintf(stderr, "hop benchmark child: %s\n", tp.err().message.c_str());
      return 1;
    }
    core::transport* t = tp->get();
    auto e_mailbox = make_echo(sys, hop_sink::mailbox, t, 2, 1);
    auto e_inline = make_echo(sys, hop_sink::inline_run, t, 4, 3);
    if (!(*tp)->bind(2, e_mailbox) || !(*tp)->bind(4, e_inline)) {
      code = 1;
    } else {
      put(pong, bound_tag);
      // Wait for the end without competing for a core with the pollers.
      while (rte_ring_sc_dequeue_elem(ping, &d, sizeof d) != 0 || d.tag != quit_tag)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    (*tp)->stop();
    for (auto& sink : {e_mailbox, e_inline})
      caf::anon_send_exit(sink->actor(), caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
  }
  return code;
}

} // namespace spry::transports::dpdk
