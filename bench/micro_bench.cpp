// Micro-benchmarks of the primitives under the chain: pool alloc/release, route lookup, the
// versioned reader, and a descriptor round trip through each registered transport.
#include "core/pool.hpp"
#include "core/route_table.hpp"
#include "core/transport_registry.hpp"
#include "core/versioned.hpp"
#include "transports/register.hpp"

#include <benchmark/benchmark.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include <future>

using namespace spry::core;

static void pool_alloc_release(benchmark::State& state) {
  pool_options o;
  o.buffer_count = 1024;
  o.buffer_size = 4096;
  auto p = pool::create(o);
  for (auto _ : state) {
    auto* b = p->alloc();
    benchmark::DoNotOptimize(b);
    p->release(b);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(pool_alloc_release);

static void route_lookup(benchmark::State& state) {
  std::vector<route_table::rule> rules = {{0, 0, "car", 1}, {0, 0, "person", 2},
                                          {0, 0, "*", end_of_chain}};
  auto t = route_table::build({0}, rules);
  for (auto _ : state)
    benchmark::DoNotOptimize(t->next(0, 0, "person"));
}
BENCHMARK(route_lookup);

static void versioned_read(benchmark::State& state) {
  versioned<route_table> v(std::make_shared<const route_table>());
  versioned<route_table>::reader r(v);
  for (auto _ : state)
    benchmark::DoNotOptimize(&r.get());
}
BENCHMARK(versioned_read);

// Two endpoints bounce one descriptor back and forth `batch` times per iteration.
static void transport_round_trip(benchmark::State& state, std::string name) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  caf::actor_system sys{cfg};
  transport_registry reg;
  spry::transports::register_all(reg);
  // Shared-memory transports check that a descriptor names an allocated buffer of a pool.
  std::vector<pool> pools;
  pool_options po;
  po.buffer_count = 4;
  po.buffer_size = 64;
  po.try_hugepages = false;
  pools.push_back(std::move(*pool::create(po)));
  buffer_header* buffer = pools[0].alloc();
  transport_context ctx;
  ctx.system = &sys;
  ctx.pools = &pools;
  ctx.max_endpoints = 16; // endpoints 1 and 2; shm-dpdk makes a ring for each
  auto made = reg.create(name, ctx);
  if (!made) {
    state.SkipWithError(made.err().message.c_str());
    return;
  }
  auto tp = std::move(*made);
  constexpr int batch = 1000;
  struct shared {
    std::atomic<int> left{0};
    std::promise<void> done;
  } sh;
  auto* t = tp.get();
  auto ping = sys.spawn([t, &sh](caf::event_based_actor*) -> caf::behavior {
    return {[t, &sh](descriptor d) {
      t->consumed(1);
      if (sh.left.fetch_sub(1) == 1) {
        sh.done.set_value();
        return;
      }
      d.dst = 2;
      t->send(d);
    }};
  });
  auto pong = sys.spawn([t](caf::event_based_actor*) -> caf::behavior {
    return {[t](descriptor d) {
      t->consumed(2);
      d.dst = 1;
      t->send(d);
    }};
  });
  tp->bind(1, ping);
  tp->bind(2, pong);
  for (auto _ : state) {
    sh.done = std::promise<void>();
    auto f = sh.done.get_future();
    sh.left = batch;
    tp->send(descriptor{2, 0, 1, pools[0].offset_of(buffer)});
    f.wait();
  }
  // items = round trips (two hops each); time per round trip = 1 / items_per_second.
  state.SetItemsProcessed(state.iterations() * batch);
  tp->stop();
  caf::anon_send_exit(ping, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(pong, caf::exit_reason::user_shutdown);
}

int main(int argc, char** argv) {
  transport_registry reg;
  spry::transports::register_all(reg);
  for (const auto* e : reg.entries())
    benchmark::RegisterBenchmark(("transport_round_trip/" + e->name).c_str(), transport_round_trip,
                                 e->name)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
