#include "core/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include <thread>

namespace spry::core {

runtime::runtime()
  : routes_(std::make_shared<const route_table>()),
    directory_(std::make_shared<const endpoint_directory>()) {
}

expected<std::unique_ptr<runtime>> runtime::start(app_spec app, function_registry functions,
                                                  const runtime_options& opts) {
  std::unique_ptr<runtime> rt(new runtime());
  rt->balancers_ = opts.balancers;
  for (const auto& path : app.libraries) {
    auto lib = function_library::load(path, functions);
    if (!lib)
      return lib.err();
    rt->libraries_.push_back(std::move(*lib));
  }
  auto compiled = compile(app);
  if (!compiled)
    return compiled.err();
  for (const auto& f : app.functions) {
    if (!functions.find(f.handler)) {
      std::string known;
      for (const auto& n : functions.names())
        known += (known.empty() ? "" : ", ") + n;
      return make_error(f.where.prefix() + "function '" + f.name + "': no handler named '" +
                        f.handler + "' is registered (registered: " +
                        (known.empty() ? "none" : known) +
                        "); is its library listed under `libraries:`?");
    }
  }
  if (!opts.balancers || !opts.balancers->contains(app.load_balancer)) {
    std::string known;
    if (opts.balancers)
      for (const auto& n : opts.balancers->names())
        known += (known.empty() ? "" : ", ") + n;
    return make_error(app.load_balancer_where.prefix() + "unknown load balancer '" +
                      app.load_balancer + "' (available: " + known + ")");
  }
  if (!opts.transports)
    return make_error("runtime: no transport registry given");

  // -- actor system ----------------------------------------------------------------------------
  rt->config_ = std::make_unique<caf::actor_system_config>();
  const unsigned workers =
    app.worker_threads ? app.worker_threads : std::max(2u, std::thread::hardware_concurrency());
  rt->config_->set("scheduler.max-threads", static_cast<size_t>(workers));
  rt->config_->set("logger.verbosity", caf::atom("quiet"));
  // CAF 0.17's idle workers first spin briefly, then poll 500 times with 50 us sleeps, then
  // wait on a condition variable. The middle phase adds up to 50 us to every hop that finds its
  // worker there, and wakes an idle process 20000 times a second. Skipping it makes delivery
  // event-driven after the short spin: an enqueue notifies the sleeping worker directly.
  rt->config_->set("work-stealing.moderate-poll-attempts", size_t{0});
  rt->system_ = std::make_unique<caf::actor_system>(*rt->config_);

  // -- pools -----------------------------------------------------------------------------------
  for (size_t c = 0; c < app.chains.size(); ++c) {
    pool_options po;
    po.name = "spry-" + app.name + "-" + app.chains[c].name;
    po.buffer_count = app.chains[c].pool.buffers;
    po.buffer_size = app.chains[c].pool.buffer_size;
    po.try_hugepages = opts.hugepages;
    auto p = pool::create(po);
    if (!p)
      return make_error(app.chains[c].where.prefix() + p.err().message);
    spdlog::info("chain '{}': pool of {} x {} B buffers in {}", app.chains[c].name,
                 po.buffer_count, po.buffer_size,
                 p->hugepages() ? "hugepages" : "regular pages (no hugepages available)");
    rt->pools_.push_back(std::move(*p));
  }

  // -- transport -------------------------------------------------------------------------------
  size_t total_instances = 0;
  for (const auto& f : app.functions)
    total_instances += f.max_instances;
  transport_context tctx;
  tctx.system = rt->system_.get();
  tctx.pools = &rt->pools_;
  tctx.app = &app;
  tctx.max_endpoints = static_cast<uint32_t>(std::max<size_t>(64, total_instances + 1));
  uint64_t buffers = 0;
  for (const auto& c : app.chains)
    buffers += c.pool.buffers;
  // A queue can never hold more descriptors than there are buffers; the bound only matters for
  // transports whose queues are smaller than the pools.
  tctx.queue_capacity = static_cast<uint32_t>(std::min<uint64_t>(buffers, UINT32_MAX));
  auto tp = opts.transports->create(app.transport, tctx);
  if (!tp)
    return make_error(app.transport_where.prefix() + tp.err().message);
  rt->tp_ = std::move(*tp);

  // -- routes ----------------------------------------------------------------------------------
  auto table = route_table::build(compiled->heads, compiled->rules);
  if (!table)
    return table.err();
  rt->routes_.publish(std::make_shared<const route_table>(std::move(*table)));

  // -- instances -------------------------------------------------------------------------------
  endpoint_directory dir;
  dir.instances.resize(app.functions.size());
  dir.function_of.assign(1, no_function); // endpoint 0: the gateway
  endpoint_id next_endpoint = 1;
  for (size_t f = 0; f < app.functions.size(); ++f) {
    const auto& spec = app.functions[f];
    if (spec.concurrency > 1 && app.transport == "local")
      spdlog::warn("function '{}': concurrency {} has no effect on transport local (an instance "
                   "actor runs one request at a time); use min_instances for parallelism",
                   spec.name, spec.concurrency);
    for (uint32_t k = 0; k < spec.min_instances; ++k) {
      instance_context ctx;
      ctx.self = next_endpoint++;
      ctx.function = static_cast<function_id>(f);
      ctx.function_name = spec.name;
      ctx.body = *functions.find(spec.handler);
      ctx.pools = &rt->pools_;
      ctx.routes = &rt->routes_;
      ctx.directory = &rt->directory_;
      ctx.tp = rt->tp_.get();
      ctx.balancer = *opts.balancers->create(app.load_balancer);
      auto counters = ctx.counters;
      const auto self = ctx.self;
      auto actor = spawn_instance(*rt->system_, std::move(ctx));
      if (auto bound = rt->tp_->bind(self, actor); !bound) {
        caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
        return bound.err();
      }
      rt->instances_.push_back({self, static_cast<function_id>(f), actor, counters});
      dir.instances[f].push_back(self);
      dir.function_of.push_back(static_cast<function_id>(f));
    }
  }
  rt->directory_.publish(std::make_shared<const endpoint_directory>(std::move(dir)));
  rt->app_ = std::move(app);
  rt->functions_ = std::move(functions);
  return rt;
}

std::unique_ptr<policies::load_balancing::load_balancer> runtime::make_balancer() const {
  return *balancers_->create(app_.load_balancer);
}

void runtime::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  if (tp_)
    tp_->stop();
  for (auto& i : instances_)
    caf::anon_send_exit(i.actor, caf::exit_reason::user_shutdown);
  if (system_)
    system_->await_all_actors_done();
}

runtime::~runtime() {
  stop();
  instances_.clear();
  system_.reset();
}

} // namespace spry::core
