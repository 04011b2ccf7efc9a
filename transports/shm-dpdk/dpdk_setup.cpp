// Creation of shm-dpdk transports (see dpdk_setup.hpp): the node's (EAL primary: rings, table,
// eventfd) and an instance's (EAL secondary, attached to the node's), and the registry entry.

#include "transports/shm-dpdk/dpdk_setup.hpp"

#include "core/app_spec.hpp"
#include "core/spare_thread.hpp"
#include "transports/shm-dpdk/dpdk_transport.hpp"
#include "transports/shm-dpdk/eal.hpp"
#include "transports/shm-dpdk/hop_bench.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>
#include <sys/eventfd.h>

namespace spry::transports::dpdk {

namespace {

/// Rings when no app says how large (bare transports in tests and benchmarks).
constexpr uint32_t default_ring_size = 1024;
/// Headroom of EAL memory beyond the rings: the EAL's own memzones and heap metadata.
constexpr uint64_t eal_overhead_mb = 16;
constexpr uint32_t max_rings = 2048; // below RTE_MAX_MEMZONE (2560), leaving the EAL its own

std::atomic<uint64_t> next_generation{1};

uint32_t next_pow2(uint64_t n) {
  uint64_t p = 1;
  while (p < n)
    p <<= 1;
  return static_cast<uint32_t>(p);
}

// The transport's settings: from the app (dpdk: block) when there is one.
dpdk_settings settings_of(const core::transport_context& ctx) {
  dpdk_settings s;
  s.ring_size = default_ring_size;
  if (!ctx.app)
    return s;
  s.spec = dpdk_config_of(*ctx.app);
  s.app_name = ctx.app->name;
  if (s.spec.ring_size) {
    s.ring_size = s.spec.ring_size;
  } else {
    // Room for every buffer of every pool: a ring then never fills while a buffer is free, so
    // an instance can always return a request to the gateway.
    uint64_t buffers = 0;
    for (const auto& c : ctx.app->chains)
      buffers += c.pool.buffers;
    s.ring_size = std::clamp<uint32_t>(next_pow2(buffers + 1), default_ring_size, 1u << 20);
  }
  return s;
}

std::map<std::string, std::string> parse_parameters(const std::string& text) {
  std::map<std::string, std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, '/')) {
    const auto colon = item.find(':');
    if (colon != std::string::npos)
      out[item.substr(0, colon)] = item.substr(colon + 1);
  }
  return out;
}

// -- creation ----------------------------------------------------------------------------------

core::expected<std::unique_ptr<core::transport>> make_node(const core::transport_context& ctx,
                                                           const dpdk_settings& s) {
  const uint32_t endpoints = ctx.max_endpoints;
  if (endpoints > max_rings)
    return core::make_error("transport shm-dpdk: " + std::to_string(endpoints) +
                            " endpoints need as many rings, more than the " +
                            std::to_string(max_rings) + " this build of DPDK can name");
  const uint64_t need_mb =
    (endpoint_rings::memory_needed(endpoints, s.ring_size) + (1 << 20) - 1) / (1 << 20);
  eal_options o;
  o.primary = true;
  o.file_prefix = s.spec.file_prefix;
  o.app_name = s.app_name;
  o.lcores = s.spec.lcores;
  o.memory_mb = s.spec.memory >> 20;
  auto e = eal::acquire(o);
  if (!e)
    return e.err();
  if (need_mb + eal_overhead_mb > (*e)->memory_mb())
    return core::make_error(
      "transport shm-dpdk: " + std::to_string(endpoints) + " endpoint rings of " +
      std::to_string(s.ring_size) + " descriptors need " + std::to_string(need_mb) +
      " MiB of hugepage memory (plus " + std::to_string(eal_overhead_mb) + " MiB for the EAL), and " +
      "the EAL has " + std::to_string((*e)->memory_mb()) +
      " MiB: raise dpdk.memory or set a smaller dpdk.ring_size");
  const uint64_t generation = next_generation.fetch_add(1);
  auto rings = endpoint_rings::create(endpoints, s.ring_size, generation);
  if (!rings)
    return rings.err();
  // Inherited by every instance (instance_fd): how they wake the gateway's I/O thread.
  const int bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (bell < 0) {
    const int err = errno;
    rings->free();
    return core::make_error(std::string("transport shm-dpdk: eventfd: ") + std::strerror(err));
  }
  return make_dpdk_transport(ctx, s, *e, generation, std::move(*rings), bell);
}

core::expected<std::unique_ptr<core::transport>> make_instance(const core::transport_context& ctx,
                                                               const dpdk_settings& s) {
  const auto params = parse_parameters(ctx.node_parameters);
  if (!params.count("prefix") || !params.count("gen") || !params.count("table"))
    return core::make_error("transport shm-dpdk: this instance was started without the gateway's "
                            "DPDK parameters (got '" + ctx.node_parameters + "')");
  eal_options o;
  o.primary = false;
  o.file_prefix = params.at("prefix");
  o.lcores = s.spec.lcores;
  auto e = eal::acquire(o);
  if (!e)
    return e.err();
  uint64_t generation = 0, table = 0;
  try {
    generation = std::stoull(params.at("gen"));
    table = std::stoull(params.at("table"));
  } catch (const std::exception&) {
    return core::make_error("transport shm-dpdk: bad generation or table in '" +
                            ctx.node_parameters + "'");
  }
  auto rings = endpoint_rings::attach(generation, table, o.file_prefix);
  if (!rings)
    return rings.err();
  // Without the node's eventfd (a bare instance transport, the hop bench) this process cannot
  // wake an event loop that owns an endpoint; the node's runtime always passes it.
  return make_dpdk_transport(ctx, s, *e, generation, std::move(*rings), ctx.node_fd);
}

} // namespace

core::expected<std::unique_ptr<core::transport>> make_transport(const core::transport_context& ctx) {
  const dpdk_settings s = settings_of(ctx);
  return ctx.instance_role ? make_instance(ctx, s) : make_node(ctx, s);
}

void register_transport(core::transport_registry& registry) {
  core::transport_registry::entry e;
  e.name = "shm-dpdk";
  e.description = "shared-memory pools, 16-byte descriptors on DPDK rte_rings (EAL multi-process), "
                  "polling receivers that sleep in the kernel when idle (dpdk.idle: adaptive; spin "
                  "or yield keep a core per process); needs root and 2 MB hugepages";
  e.factory = make_transport;
  e.in_process_instances = false;
  e.shared_pools = true;
  e.missing_requirement = [] { return eal::missing_requirement(dpdk_config{}.memory >> 20); };
  e.measure_hops = measure_hops;
  e.role_main = hop_bench_role_main;
  // Every instance's transport starts its poller thread at its first bind.
  e.prepare_spare = [] { core::park_spare_threads(1); };
  registry.add(std::move(e));
}

} // namespace spry::transports::dpdk
