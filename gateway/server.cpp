#include "gateway/server.hpp"

#include "core/runtime.hpp"
#include "gateway/app_policies.hpp"
#include "gateway/control_plane.hpp"
#include "gateway/gateway.hpp"
#include "gateway/http_server.hpp"
#include "gateway/mqtt_ingress.hpp"
#include "gateway/remote_hops.hpp"
#include "policies/load_balancing/load_balancer.hpp"
#include "transports/register.hpp"

#include <nlohmann/json.hpp>

namespace spry::gateway {

// Built once per process: the explicit registration of everything this build contains.
const core::transport_registry& transports() {
  static const core::transport_registry r = [] {
    core::transport_registry reg;
    spry::transports::register_all(reg);
    return reg;
  }();
  return r;
}

const core::load_balancer_registry& balancers() {
  static const policies::load_balancing::load_balancer_registry r = [] {
    policies::load_balancing::load_balancer_registry reg;
    policies::load_balancing::register_all(reg);
    return reg;
  }();
  return r;
}

core::expected<std::unique_ptr<server>> server::start(core::app_spec app,
                                                      core::function_registry functions,
                                                      std::optional<core::launch_spec> launcher,
                                                      const cluster_role* cluster) {
  std::unique_ptr<server> s(new server());
  auto policies = make_app_policies(app);
  if (!policies)
    return policies.err();
  core::runtime_options opts;
  opts.transports = &transports();
  opts.balancers = &balancers();
  opts.launcher = std::move(launcher);
  opts.no_initial_instances = cluster != nullptr; // the controller places every instance
  auto rt = core::runtime::start(std::move(app), std::move(functions), opts);
  if (!rt)
    return rt.err();
  s->rt_ = std::move(*rt);
  // The gateway binds endpoint 0 first: instances are told its address when they start.
  s->gw_ = std::make_unique<gateway>(*s->rt_);
  s->cp_ = std::make_unique<control_plane>(*s->rt_, *s->gw_, std::move(*policies));
  core::runtime::launch_hooks hooks;
  gateway* gw = s->gw_.get();
  control_plane* cp = s->cp_.get();
  hooks.on_instance_down = [gw, cp](core::endpoint_id ep, const std::string& why) {
    gw->on_instance_down(ep, why);
    cp->on_down(ep);
  };
  hooks.on_instance_ready = [gw, cp](core::endpoint_id ep, uint64_t ns) {
    cp->on_ready(ep, ns);
    // An instance process (on the supervisor's thread): the directory lists it now, so what
    // waited for it goes at once, not at the control plane's next tick (a chain warming up
    // would wait for one tick per function). An in-process one (ns 0) is added by that tick
    // itself, under its lock, and the tick sends them when it ends.
    if (ns != 0)
      gw->release_held();
  };
  hooks.initial_cpus = [cp](core::function_id f) { return cp->initial_cpus(f); };
  if (cluster) {
    gw->set_remote(cluster->remote);
    s->cp_->set_targets(std::vector<uint32_t>(s->rt_->app().functions.size(), 0));
    gw->set_activation_hook([cp, activate = cluster->activate](core::function_id f, core::chain_id c) {
      cp->activate(f, c);
      if (activate)
        activate(f, c);
    });
  } else {
    gw->set_activation_hook([cp](core::function_id f, core::chain_id c) { cp->activate(f, c); });
  }
  // The app's adapters, before any request can name them; a broken library stops the start.
  for (const auto& a : s->rt_->app().adapters)
    if (auto loaded = gw->adapters().load(a.name, a.library); !loaded)
      return core::make_error(a.where.prefix() + loaded.err().message);
  if (!s->rt_->app().mqtt.broker.empty())
    s->mqtt_ = std::make_unique<mqtt_ingress>(*gw, s->rt_->app().mqtt);
  mqtt_ingress* mq = s->mqtt_.get();
  std::function<std::string()> cluster_metrics, cluster_status;
  if (cluster) {
    cluster_metrics = cluster->metrics;
    cluster_status = cluster->status;
  }
  gw->set_extra_metrics([cp, mq, cluster_metrics] {
    return cp->metrics_text() + (mq ? mq->metrics_text() : "") +
           (cluster_metrics ? cluster_metrics() : std::string());
  });
  gw->set_status([cp, cluster_status] {
    if (!cluster_status)
      return cp->status_json();
    auto j = nlohmann::json::parse(cp->status_json(), nullptr, false);
    auto c = nlohmann::json::parse(cluster_status(), nullptr, false);
    if (j.is_discarded() || c.is_discarded())
      return cp->status_json();
    j["cluster"] = c;
    return j.dump();
  });
  gw->set_library_reload([cp](const std::string& path) { return cp->reload_library(path); });
  if (auto ok = s->rt_->launch(std::move(hooks)); !ok)
    return ok.err();
  s->cp_->start();
  s->http_ = std::make_unique<http_server>(*s->gw_, s->rt_->app().gateway);
  if (auto ok = s->http_->start(); !ok)
    return ok.err();
  if (s->mqtt_)
    s->mqtt_->start(); // connects in the background: a broker that is not up yet is retried
  return s;
}

uint16_t server::port() const noexcept { return http_ ? http_->port() : 0; }

void server::stop(unsigned drain_ms) {
  // MQTT first: no new messages while HTTP drains; its in-flight requests are given up (their
  // buffers return to the pools when the chains let go) so no completion outlives it.
  if (mqtt_)
    mqtt_->stop();
  // The HTTP loop stops here but is destroyed only after the gateway: a completion that races
  // with the stop still posts into a live (stopped) loop, and sessions the gateway's slots hold
  // are destroyed while their sockets' reactor exists.
  if (http_)
    http_->stop(drain_ms);
  if (cp_)
    cp_->stop(); // no scaling while everything stops
  // Instance processes first (their exits must not call into a destroyed gateway or control
  // plane), then those, then the rest of the runtime.
  if (rt_)
    rt_->stop_instances();
  cp_.reset();
  mqtt_.reset();
  gw_.reset();
  http_.reset();
  if (rt_)
    rt_->stop();
}

server::~server() { stop(0); }

} // namespace spry::gateway
