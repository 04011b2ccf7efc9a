#include "core/runtime.hpp"

#include "core/control_channel.hpp"
#include "core/instance_actor_system.hpp"

#include <caf/actor_pool.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>
#include <unistd.h>

namespace spry::core {

namespace {

// An instance process keeps a small pool per chain: it only holds the requests queued at it.
constexpr uint32_t instance_pool_buffers = 256;

} // namespace

runtime::runtime()
  : routes_(std::make_shared<const route_table>()),
    directory_(std::make_shared<const endpoint_directory>()) {
}

status_or_error runtime::check(const app_spec& app, const function_registry& functions,
                               const runtime_options& opts) {
  if (auto compiled = compile(app); !compiled)
    return compiled.err();
  for (const auto& f : app.functions) {
    if (!functions.find(f.handler)) {
      std::string known;
      for (const auto& n : functions.names())
        known += (known.empty() ? "" : ", ") + n;
      return make_error(f.where.prefix() + "function '" + f.name + "': no handler named '" +
                        f.handler + "' (the app's libraries define: " +
                        (known.empty() ? "none" : known) +
                        "); a handler is the name a library registers with registry.add(NAME, ...) "
                        "inside SPRY_FUNCTION_LIBRARY; is its library listed under `libraries:`?");
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
  const auto* entry = opts.transports->find(app.transport);
  if (!entry) {
    std::string known;
    for (const auto* e : opts.transports->entries())
      known += (known.empty() ? "" : ", ") + e->name;
    return make_error(app.transport_where.prefix() + "unknown transport '" + app.transport +
                      "' (available in this build: " + known + ")");
  }
  // Each transport section is checked by the transport that owns it, against the whole app
  // (apps built in C++ reach this without a parser having seen their settings).
  for (const auto& key : app.transport_settings.keys()) {
    const auto* settings = app.transport_settings.find(key);
    const auto* section = opts.transports->find_section(key);
    if (!section)
      return make_error(settings->where.prefix() + key + ": no transport of this build reads "
                        "this section");
    if (section->check)
      if (auto ok = section->check(*settings, app); !ok)
        return ok;
  }
  return {};
}

expected<std::unique_ptr<runtime>> runtime::start(app_spec app, function_registry functions,
                                                  const runtime_options& opts,
                                                  const instance_role* role) {
  std::unique_ptr<runtime> rt(new runtime());
  rt->opts_ = opts;
  if (role)
    rt->role_ = *role;
  // An instance loads the libraries its node runs now (a hot reload may have replaced some of
  // the app file's), so that a restart or a scale-up after a reload runs the new code.
  if (role && role->libraries)
    app.libraries = *role->libraries;
  for (const auto& path : app.libraries) {
    auto lib = function_library::load(path, functions);
    if (!lib)
      return lib.err();
    rt->libraries_.push_back(std::move(*lib));
  }
  if (auto ok = check(app, functions, opts); !ok)
    return ok.err();
  if (role && find_function(app, role->function) == no_function)
    return make_error("instance role names unknown function '" + role->function + "'");
  auto compiled = compile(app);
  if (!compiled)
    return compiled.err();
  const auto* entry = opts.transports->find(app.transport);
  rt->in_process_instances_ = entry->in_process_instances;
  rt->listen_socket_per_endpoint_ = entry->listen_socket_per_endpoint;
  rt->front_end_ = entry->front_end;
  rt->shared_pools_ = entry->shared_pools;
  if (entry->sidecars && entry->sidecars(app))
    rt->sidecar_ = entry->sidecar;
  rt->routing_ = effective_routing(app, entry->broker_routing_by_default);
  if (!rt->in_process_instances_ && !role && !opts.launcher)
    return make_error(app.transport_where.prefix() + "transport '" + app.transport +
                      "' runs every instance as its own process, and this program was started "
                      "without a way to launch them (use `spry run` or spry::gateway::run)");

  // -- actor system ----------------------------------------------------------------------------
  auto all_workers = [&app] {
    return app.worker_threads ? app.worker_threads
                              : std::max(2u, std::thread::hardware_concurrency());
  };
  unsigned workers = 1;
  if (!role)
    workers = all_workers();
  // An instance runs one function: its concurrency is all the parallelism it needs (1, the
  // default, asks nothing more: no reading of the machine's CPUs on its start path).
  else if (const uint32_t c = app.functions[find_function(app, role->function)].concurrency; c > 1)
    workers = std::min(c, all_workers());
  {
    auto started = start_actor_system(workers, role != nullptr);
    rt->config_ = std::move(started.config);
    rt->system_ = std::move(started.system);
  }

  // -- pools -----------------------------------------------------------------------------------
  if (role && entry->shared_pools && role->pool_fds.size() != app.chains.size())
    return make_error("instance role: expected " + std::to_string(app.chains.size()) +
                      " pool fds from the gateway, got " + std::to_string(role->pool_fds.size()));
  for (size_t c = 0; c < app.chains.size(); ++c) {
    if (role && entry->shared_pools && role->pool_fds[c] < 0) {
      // Chain isolation: this instance's function is not in chain c, so it does not map that
      // chain's memory. A one-byte placeholder keeps chain ids as indices; every descriptor
      // naming it fails validation (dropped and counted), as the design asks.
      pool_options po;
      po.name = "spry-unmapped-" + app.chains[c].name;
      po.buffer_count = 1;
      po.buffer_size = 1;
      po.try_hugepages = false;
      auto p = pool::create(po);
      if (!p)
        return p.err();
      rt->pools_.push_back(std::move(*p));
      continue;
    }
    if (role && entry->shared_pools) {
      // The gateway's pool for this chain: the same buffers, mapped at our own address.
      auto p = pool::attach(role->pool_fds[c]);
      if (!p)
        return make_error("chain '" + app.chains[c].name + "': " + p.err().message);
      close(role->pool_fds[c]);
      rt->pools_.push_back(std::move(*p));
      continue;
    }
    pool_options po;
    po.name = "spry-" + app.name + "-" + app.chains[c].name;
    po.buffer_count = app.chains[c].pool.buffers;
    po.buffer_size = app.chains[c].pool.buffer_size;
    po.try_hugepages = opts.hugepages;
    if (role) {
      po.buffer_count = std::min(po.buffer_count, instance_pool_buffers);
      po.try_hugepages = false; // hugepages are the node's budget, not every instance's
    }
    auto p = pool::create(po);
    if (!p)
      return make_error(app.chains[c].where.prefix() + p.err().message);
    if (!role)
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
  tctx.instance_role = role != nullptr;
  if (role) {
    tctx.node_parameters = role->transport_parameters;
    tctx.node_fd = role->transport_fd;
  }
  tctx.max_endpoints = static_cast<uint32_t>(std::max<size_t>(64, total_instances + 1));
  // Ids are not reused at once when instances come and go (a late message for a retired id must
  // not reach its successor): leave room for a few generations of scaling.
  if (!role)
    tctx.max_endpoints = static_cast<uint32_t>(std::max<size_t>(tctx.max_endpoints, 4 * total_instances + 1));
  {
    auto board = role && role->board_fd >= 0 ? endpoint_board::attach(role->board_fd)
                                             : endpoint_board::create(tctx.max_endpoints);
    if (!board)
      return board.err();
    rt->board_ = std::move(*board);
    if (role)
      tctx.max_endpoints = std::max(tctx.max_endpoints, rt->board_.size());
  }
  uint64_t buffers = 0;
  for (const auto& c : app.chains)
    buffers += c.pool.buffers;
  // A queue can never hold more descriptors than there are buffers; the bound only matters for
  // transports whose queues are smaller than the pools.
  tctx.queue_capacity = static_cast<uint32_t>(std::min<uint64_t>(buffers, UINT32_MAX));
  if (role && role->listen_fd >= 0)
    tctx.listen_fds[role->endpoint] = role->listen_fd;
  auto tp = entry->factory(tctx);
  if (!tp)
    return make_error(app.transport_where.prefix() + tp.err().message);
  rt->tp_ = std::move(*tp);
  rt->tp_max_endpoints_ = tctx.max_endpoints;

  // -- routes ----------------------------------------------------------------------------------
  auto table = route_table::build(compiled->heads, compiled->rules);
  if (!table)
    return table.err();
  rt->routes_.publish(std::make_shared<const route_table>(std::move(*table)));
  rt->app_ = std::move(app);
  rt->functions_ = std::move(functions);
  return rt;
}

status_or_error runtime::spawn_local(endpoint_id ep, function_id f) {
  const auto& spec = app_.functions[f];
  auto counters = std::make_shared<instance_counters>();
  function_body body;
  {
    std::lock_guard<std::mutex> guard{functions_mtx_};
    body = *functions_.find(app_.functions[f].handler);
  }
  auto make_one = [this, ep, f, counters, body] {
    instance_context ctx;
    ctx.self = ep;
    ctx.function = f;
    ctx.function_name = app_.functions[f].name;
    ctx.body = body;
    ctx.pools = &pools_;
    ctx.routes = &routes_;
    ctx.directory = &directory_;
    ctx.tp = tp_.get();
    ctx.balancer = *opts_.balancers->create(app_.load_balancer);
    ctx.counters = counters;
    ctx.routing = routing_;
    ctx.board = &board_;
    ctx.shared_pools = shared_pools_;
    return spawn_instance(*system_, std::move(ctx));
  };
  // concurrency 1 (the default): the transport's receive thread runs the function itself (run to
  // completion). `concurrency` N > 1: N actors behind one endpoint, fed round robin through
  // their mailboxes so that CAF's workers run N requests at once; the hand-off to a worker is
  // what buys that parallelism (one receive thread can run one function at a time).
  caf::actor actor;
  std::shared_ptr<descriptor_sink> sink;
  std::shared_ptr<inline_sink> runner;
  if (spec.concurrency <= 1) {
    auto one = make_one();
    actor = one.actor;
    runner = one.sink;
    sink = std::move(one.sink);
  } else {
    actor = caf::actor_pool::make(system_->dummy_execution_unit(), spec.concurrency,
                                  [make_one] { return make_one().actor; },
                                  caf::actor_pool::round_robin());
    sink = std::make_shared<mailbox_sink>(actor);
  }
  if (auto bound = tp_->bind(ep, std::move(sink)); !bound) {
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    return bound;
  }
  std::lock_guard<std::mutex> guard{instances_mtx_};
  instances_.push_back({ep, f, actor, counters, std::move(runner)});
  return {};
}

status_or_error runtime::launch(launch_hooks hooks) {
  launch_hooks_ = hooks;
  if (role_) {
    const function_id f = find_function(app_, role_->function);
    return spawn_local(role_->endpoint, f);
  }
  // Endpoint ids: 0 is the gateway, then min_instances of every function in declaration order.
  std::vector<instance_supervisor::planned> plan;
  endpoint_directory dir;
  dir.instances.resize(app_.functions.size());
  dir.function_of.assign(1, no_function);
  endpoint_id next = 1;
  for (size_t f = 0; f < app_.functions.size(); ++f)
    for (uint32_t k = 0; k < (opts_.no_initial_instances ? 0 : app_.functions[f].min_instances); ++k) {
      plan.push_back({next, static_cast<function_id>(f), hooks.initial_cpus ? hooks.initial_cpus(static_cast<function_id>(f)) : std::vector<unsigned>{}});
      board_.reset(next, app_.functions[f].concurrency);
      dir.instances[f].push_back(next);
      dir.function_of.push_back(static_cast<function_id>(f));
      ++next;
    }
  next_endpoint_ = next;
  if (in_process_instances_) {
    for (const auto& p : plan)
      if (auto ok = spawn_local(p.endpoint, p.function); !ok)
        return ok;
    directory_.publish(std::make_shared<const endpoint_directory>(std::move(dir)));
    return {};
  }
  const std::string gateway_address = tp_->address_of(gateway_endpoint);
  instance_supervisor::hooks sh;
  sh.on_down = [this, down = hooks.on_instance_down](endpoint_id ep, const std::string& why) {
    if (down)
      down(ep, why);
    // Whatever it held is failed or reclaimed: its queue starts empty when it is back.
    board_.reset(ep, 0);
  };
  sh.on_ready = hooks.on_instance_ready;
  sh.front_end = front_end_;
  sh.on_handover = [this](endpoint_id ep, int fd) { return tp_->adopt(ep, fd); };
  sh.libraries = [this] { return library_paths(); };
  std::vector<int> pool_fds;
  pool_fds.push_back(board_.fd()); // first: the endpoint board, mapped by every instance
  if (shared_pools_)
    for (auto& p : pools_)
      pool_fds.push_back(p.fd());
  sh.on_topology = [this](const endpoint_directory& d,
                          const std::vector<std::pair<endpoint_id, std::string>>& peers) {
    std::vector<endpoint_id> now;
    for (const auto& [ep, address] : peers) {
      if (ep == gateway_endpoint)
        continue;
      if (auto ok = tp_->set_peer(ep, address); !ok)
        spdlog::error("{}", ok.err().message);
      now.push_back(ep);
    }
    for (auto ep : peers_set_)
      if (std::find(now.begin(), now.end(), ep) == now.end())
        tp_->remove_peer(ep);
    peers_set_ = now;
    directory_.publish(std::make_shared<const endpoint_directory>(d));
  };
  const std::string parameters = tp_->instance_parameters();
  if (parameters.find(';') != std::string::npos)
    return make_error("transport '" + app_.transport + "' gave instance parameters containing ';'");
  supervisor_ = std::make_unique<instance_supervisor>(app_, *opts_.launcher, gateway_address,
                                                      listen_socket_per_endpoint_, sidecar_,
                                                      std::move(pool_fds), std::move(sh),
                                                      parameters, tp_->instance_fd());
  return supervisor_->start(plan);
}

expected<endpoint_id> runtime::add_instance(function_id f, std::vector<unsigned> cpus) {
  return std::move(add_instances({{f, std::move(cpus)}}).front());
}

std::vector<expected<endpoint_id>>
runtime::add_instances(const std::vector<std::pair<function_id, std::vector<unsigned>>>& wanted) {
  using result = expected<endpoint_id>;
  std::vector<result> out;
  // Next unused id; after a wrap, the lowest id no instance uses.
  std::vector<bool> used(tp_max_endpoints_, false);
  used[gateway_endpoint] = true;
  for (const auto& s : processes())
    if (s.endpoint < used.size())
      used[s.endpoint] = true;
  for (const auto& i : instances())
    if (i.endpoint < used.size())
      used[i.endpoint] = true;
  std::vector<instance_supervisor::planned> plan;
  std::vector<size_t> planned_at; // plan entry -> index in `out`
  for (const auto& [f, cpus] : wanted) {
    if (role_ || f >= app_.functions.size()) {
      out.push_back(result(make_error("add_instance: not the node, or unknown function")));
      continue;
    }
    if (!in_process_instances_ && !supervisor_) {
      out.push_back(result(make_error("add_instance: instances are not launched")));
      continue;
    }
    endpoint_id ep = no_endpoint;
    for (uint32_t k = 0; k < tp_max_endpoints_ && ep == no_endpoint; ++k) {
      const endpoint_id cand = (next_endpoint_ + k) % tp_max_endpoints_;
      if (!used[cand])
        ep = cand;
    }
    if (ep == no_endpoint) {
      out.push_back(result(make_error("no free endpoint id (all " +
                                      std::to_string(tp_max_endpoints_) + " in use)")));
      continue;
    }
    used[ep] = true;
    next_endpoint_ = (ep + 1) % tp_max_endpoints_;
    board_.reset(ep, app_.functions[f].concurrency);
    if (in_process_instances_) {
      if (auto ok = spawn_local(ep, f); !ok) {
        out.push_back(result(ok.err()));
        continue;
      }
      auto d = std::make_shared<endpoint_directory>(*directory_.snapshot());
      if (d->function_of.size() <= ep)
        d->function_of.resize(ep + 1, no_function);
      d->function_of[ep] = f;
      d->instances[f].push_back(ep);
      directory_.publish(std::move(d));
      if (launch_hooks_.on_instance_ready)
        launch_hooks_.on_instance_ready(ep, 0);
      out.push_back(ep);
      continue;
    }
    planned_at.push_back(out.size());
    plan.push_back({ep, f, cpus});
    out.push_back(ep);
  }
  if (!plan.empty()) {
    const auto started = supervisor_->add(plan);
    for (size_t k = 0; k < plan.size(); ++k)
      if (!started[k])
        out[planned_at[k]] = result(started[k].err());
  }
  return out;
}

void runtime::retire_instance(endpoint_id ep) {
  if (in_process_instances_) {
    auto d = std::make_shared<endpoint_directory>(*directory_.snapshot());
    for (auto& list : d->instances)
      list.erase(std::remove(list.begin(), list.end(), ep), list.end());
    directory_.publish(std::move(d));
    return;
  }
  if (supervisor_)
    supervisor_->retire(ep);
}

bool runtime::retired_everywhere(endpoint_id ep) const {
  if (in_process_instances_)
    return true; // one directory, read by every actor of this process
  return supervisor_ && supervisor_->retired_everywhere(ep);
}

void runtime::remove_instance(endpoint_id ep) {
  if (in_process_instances_) {
    caf::actor actor;
    std::shared_ptr<inline_sink> runner;
    {
      std::lock_guard<std::mutex> guard{instances_mtx_};
      auto i = std::find_if(instances_.begin(), instances_.end(),
                            [&](const instance_info& x) { return x.endpoint == ep; });
      if (i == instances_.end())
        return;
      actor = i->actor;
      runner = std::move(i->runner);
      instances_.erase(i);
    }
    tp_->unbind(ep);
    // Drop the function body now (the transport keeps the sink itself): after a hot reload
    // this is what lets the replaced library be dlclose()d once its last instance is gone.
    if (runner && !runner->release())
      spdlog::warn("instance {} was removed while its function still runs: its code stays "
                   "loaded until the app stops", ep);
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    return;
  }
  if (supervisor_)
    supervisor_->remove(ep);
}

expected<std::vector<std::string>> runtime::replace_library(const std::string& path) {
  if (role_)
    return make_error("replace_library: only the node replaces libraries");
  // Instance processes load what library_paths() names when they start (the supervisor passes
  // it in their role), so the set changed here is also what every later process starts with.
  // A reload starts new instances beside the old ones: refused where none can be added.
  if (supervisor_ && !supervisor_->can_add())
    return make_error("function library '" + path + "': a hot reload starts new instances beside "
                      "the old ones, which this app's transport front end does not allow (it is "
                      "configured once, at start): restart the app to change its code (nothing "
                      "was changed)");
  // Load into a scratch registry: nothing changes until every check passed.
  function_registry fresh;
  auto lib = function_library::load(path, fresh);
  if (!lib)
    return lib.err();
  const auto& defines = (*lib)->handlers();
  auto defined = [&](const std::string& h) {
    return std::find(defines.begin(), defines.end(), h) != defines.end();
  };
  std::lock_guard<std::mutex> guard{functions_mtx_};
  // The libraries it replaces: those that define any handler it defines.
  std::vector<std::string> replaced;
  std::vector<std::string> dropped; // handlers of replaced libraries the new one lacks
  std::vector<std::shared_ptr<function_library>> kept;
  for (const auto& old : libraries_) {
    const auto& hs = old->handlers();
    if (std::none_of(hs.begin(), hs.end(), defined)) {
      kept.push_back(old);
      continue;
    }
    replaced.push_back(old->path());
    for (const auto& h : hs)
      if (!defined(h))
        dropped.push_back(h);
  }
  if (replaced.empty())
    return make_error("function library '" + path + "' replaces no loaded library: none of its "
                      "handlers is defined by the app's libraries (a hot reload replaces "
                      "handlers by name; add new libraries by restarting the app)");
  for (const auto& fn : app_.functions)
    if (std::find(dropped.begin(), dropped.end(), fn.handler) != dropped.end())
      return make_error("function library '" + path + "' lacks handler '" + fn.handler +
                        "', which function '" + fn.name + "' uses (the library it replaces, " +
                        replaced.front() + ", defines it): nothing was changed");
  // Every other handler (kept libraries, the program's own) carries over unchanged.
  for (const auto& name : functions_.names()) {
    if (defined(name) || std::find(dropped.begin(), dropped.end(), name) != dropped.end())
      continue;
    if (auto ok = fresh.add(name, *functions_.find(name)); !ok)
      return ok.err();
  }
  if (auto ok = check(app_, fresh, opts_); !ok)
    return make_error("function library '" + path + "': " + ok.err().message +
                      " (nothing was changed)");
  kept.push_back(std::move(*lib));
  functions_ = std::move(fresh);
  libraries_ = std::move(kept); // the replaced ones live on in the bodies of running instances
  for (const auto& r : replaced)
    spdlog::info("runtime: function library {} replaced by {}", r, path);
  return replaced;
}

std::vector<std::string> runtime::library_paths() const {
  std::lock_guard<std::mutex> guard{functions_mtx_};
  std::vector<std::string> out;
  for (const auto& lib : libraries_)
    out.push_back(lib->path());
  return out;
}

std::vector<instance_info> runtime::instances() const {
  std::lock_guard<std::mutex> guard{instances_mtx_};
  return instances_;
}

std::vector<instance_status> runtime::processes() const {
  return supervisor_ ? supervisor_->status() : std::vector<instance_status>{};
}

uint32_t runtime::instances_coming(function_id f) const noexcept {
  return supervisor_ ? supervisor_->coming(f) : 0;
}

size_t runtime::instance_count() const {
  if (supervisor_)
    return supervisor_->status().size();
  std::lock_guard<std::mutex> guard{instances_mtx_};
  return instances_.size();
}

std::unique_ptr<load_balancer> runtime::make_balancer() const {
  return *opts_.balancers->create(app_.load_balancer);
}

void runtime::stop_instances() {
  if (supervisor_)
    supervisor_->stop();
}

void runtime::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  stop_instances();
  if (tp_)
    tp_->stop();
  for (auto& i : instances())
    caf::anon_send_exit(i.actor, caf::exit_reason::user_shutdown);
  if (system_)
    system_->await_all_actors_done();
}

runtime::~runtime() {
  stop();
  instances_.clear();
  supervisor_.reset();
  tp_.reset();
  system_.reset();
}

} // namespace spry::core
