#include "cluster/node_agent.hpp"

#include "cluster/messages.hpp"
#include "cluster/node_link.hpp"
#include "core/clock.hpp"
#include "core/runtime.hpp"
#include "gateway/control_plane.hpp"
#include "gateway/gateway.hpp"
#include "gateway/metrics.hpp"
#include "gateway/server.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace spry::cluster {

namespace {

using connect_atom = caf::atom_constant<caf::atom("cl_conn")>;
using tick_atom = caf::atom_constant<caf::atom("cl_ntick")>;

/// The gateway gets this before the link exists (the link needs the gateway): requests go
/// nowhere until the link is set.
class late_remote : public gateway::remote_hops {
public:
  std::atomic<gateway::remote_hops*> target{nullptr};
  bool runs_elsewhere(core::function_id f) const noexcept override {
    auto* t = target.load(std::memory_order_acquire);
    return t && t->runs_elsewhere(f);
  }
  bool coming(core::function_id f) const noexcept override {
    auto* t = target.load(std::memory_order_acquire);
    return t && t->coming(f);
  }
  core::endpoint_id forward(core::function_id f, const core::buffer_header& b,
                            gateway::remote_ref ref,
                            std::atomic<core::endpoint_id>& holder) noexcept override {
    auto* t = target.load(std::memory_order_acquire);
    return t ? t->forward(f, b, ref, holder) : core::no_endpoint;
  }
};

std::string label(const std::string& s) { return gateway::prometheus_label(s); }

} // namespace

std::string app_digest_of_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint64_t h = 1469598103934665603ull;
  char c;
  while (in.get(c)) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

struct node_agent::impl {
  node_options opts;
  late_remote remote;
  std::unique_ptr<gateway::server> srv;
  std::unique_ptr<node_link> link;
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor agent;

  mutable std::mutex mtx; // what follows
  mutable std::condition_variable cv;
  bool joined = false, connected = false, stopping = false, answered = false;
  std::string refused_reason;
  cluster_view view;
  std::string controller_id;
  uint64_t joins = 0;
  std::thread connector;

  std::string status_json() const {
    std::lock_guard<std::mutex> guard{mtx};
    nlohmann::json j;
    j["node"] = opts.name;
    j["controller"] = opts.controller_host + ":" + std::to_string(opts.controller_port);
    j["joined"] = joined;
    j["data_address"] = link ? link->address() : "";
    j["directory_version"] = view.version;
    auto nodes = nlohmann::json::array();
    for (size_t n = 0; n < view.nodes.size(); ++n) {
      const auto& vn = view.nodes[n];
      auto runs = nlohmann::json::object();
      for (size_t f = 0; f < view.ready.size() && f < opts.app.functions.size(); ++f)
        if (n < view.ready[f].size() && view.ready[f][n])
          runs[opts.app.functions[f].name] = view.ready[f][n];
      nodes.push_back({{"name", vn.name},
                       {"alive", vn.alive},
                       {"data_address", vn.data_address},
                       {"http_address", vn.http_address},
                       {"cpu_capacity", vn.cpu_capacity},
                       {"memory_mib", vn.memory_mb},
                       {"cpu_load", vn.cpu_load},
                       {"in_flight", vn.in_flight},
                       {"requests", vn.requests},
                       {"cross_node_hops", vn.cross_node_hops},
                       {"functions", runs}});
    }
    j["nodes"] = nodes;
    return j.dump();
  }

  std::string metrics_text() const {
    std::ostringstream o;
    if (link)
      o << link->metrics_text();
    std::lock_guard<std::mutex> guard{mtx};
    o << "# HELP spry_cluster_joined 1 while this node is joined to the controller.\n"
         "# TYPE spry_cluster_joined gauge\nspry_cluster_joined " << (joined ? 1 : 0) << "\n"
         "# HELP spry_cluster_node_up Nodes in the cluster's directory, 1 while alive.\n"
         "# TYPE spry_cluster_node_up gauge\n";
    for (const auto& vn : view.nodes)
      o << "spry_cluster_node_up{node=\"" << label(vn.name) << "\"} " << (vn.alive ? 1 : 0) << "\n";
    o << "# HELP spry_cluster_node_cpu_load Cores busy running functions on each node.\n"
         "# TYPE spry_cluster_node_cpu_load gauge\n";
    for (const auto& vn : view.nodes)
      o << "spry_cluster_node_cpu_load{node=\"" << label(vn.name) << "\"} " << vn.cpu_load << "\n";
    o << "# HELP spry_cluster_node_in_flight Requests in each node's gateway.\n"
         "# TYPE spry_cluster_node_in_flight gauge\n";
    for (const auto& vn : view.nodes)
      o << "spry_cluster_node_in_flight{node=\"" << label(vn.name) << "\"} " << vn.in_flight << "\n";
    o << "# HELP spry_cluster_node_requests_total Requests each node's gateway answered.\n"
         "# TYPE spry_cluster_node_requests_total counter\n";
    for (const auto& vn : view.nodes)
      o << "spry_cluster_node_requests_total{node=\"" << label(vn.name) << "\"} " << vn.requests << "\n";
    o << "# HELP spry_cluster_node_cross_node_hops_total Hops each node sent to other nodes.\n"
         "# TYPE spry_cluster_node_cross_node_hops_total counter\n";
    for (const auto& vn : view.nodes)
      o << "spry_cluster_node_cross_node_hops_total{node=\"" << label(vn.name) << "\"} "
        << vn.cross_node_hops << "\n";
    o << "# HELP spry_cluster_node_instances Ready instances of each function on each node.\n"
         "# TYPE spry_cluster_node_instances gauge\n";
    for (size_t f = 0; f < view.ready.size() && f < opts.app.functions.size(); ++f)
      for (size_t n = 0; n < view.ready[f].size() && n < view.nodes.size(); ++n)
        o << "spry_cluster_node_instances{node=\"" << label(view.nodes[n].name)
          << "\",function=\"" << label(opts.app.functions[f].name) << "\"} " << view.ready[f][n]
          << "\n";
    return o.str();
  }

  void connect_loop() {
    unsigned failures = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock{mtx};
        cv.wait(lock, [&] { return stopping || !connected; });
        if (stopping || !refused_reason.empty())
          return;
      }
      auto ctrl = caf::openssl::remote_actor(*sys, opts.controller_host, opts.controller_port);
      if (ctrl) {
        failures = 0;
        {
          std::lock_guard<std::mutex> guard{mtx};
          connected = true;
        }
        caf::anon_send(agent, connect_atom::value, *ctrl);
        continue;
      }
      if (failures++ % 10 == 0)
        spdlog::warn("node '{}': cannot reach the controller at {}:{} ({}); retrying every second",
                     opts.name, opts.controller_host, opts.controller_port, sys->render(ctrl.error()));
      std::unique_lock<std::mutex> lock{mtx};
      if (cv.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; }))
        return;
    }
  }
};

namespace {

struct agent_state {
  node_agent::impl* a = nullptr;
  caf::actor controller;
  bool joined = false;
  uint64_t epoch = 0;
  uint64_t view_version = 0;
  std::string view_controller;
  uint64_t seq = 0;
  uint64_t last_busy_ns = 0, last_report_ns = 0;
  uint32_t report_ms = 250;
  static inline const char* name = "spry.node";
};

using agent_ptr = caf::stateful_actor<agent_state>*;

bool from_controller(agent_ptr self, const char* what) {
  auto& st = self->state;
  if (st.joined && st.controller &&
      self->current_sender() == caf::actor_cast<caf::strong_actor_ptr>(st.controller))
    return true;
  spdlog::warn("node '{}': refused a {} from a peer that is not the controller this node joined",
               st.a->opts.name, what);
  return false;
}

void send_report(agent_ptr self) {
  auto& st = self->state;
  auto* a = st.a;
  auto& cp = a->srv->control();
  auto& gw = a->srv->gw();
  const auto load = cp.load();
  node_report r;
  r.seq = ++st.seq;
  r.functions = load.functions;
  r.ready = load.ready;
  r.starting = load.starting;
  for (size_t f = 0; f < a->opts.app.functions.size(); ++f)
    r.held.push_back(static_cast<uint32_t>(gw.held(static_cast<core::function_id>(f))));
  const uint64_t now = core::now_ns();
  if (st.last_report_ns && now > st.last_report_ns && load.busy_ns >= st.last_busy_ns)
    r.cpu_load = static_cast<double>(load.busy_ns - st.last_busy_ns) / (now - st.last_report_ns);
  st.last_busy_ns = load.busy_ns;
  st.last_report_ns = now;
  r.in_flight = gw.in_flight();
  r.requests = gw.stats().requests_done();
  r.cross_node_hops = a->link->stats().hops_out;
  r.cold_starts = load.cold_starts;
  r.cold_start_seconds = load.cold_start_seconds;
  self->send(st.controller, report_atom::value, r);
}

caf::behavior node_actor(agent_ptr self, node_agent::impl* a) {
  self->state.a = a;
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (!st.controller || dm.source != st.controller.address())
      return;
    spdlog::warn("node '{}': lost the controller ({}); serving on with directory version {} "
                 "and what runs here; joining again when it is back",
                 st.a->opts.name, self->system().render(dm.reason), st.view_version);
    st.controller = nullptr;
    st.joined = false;
    {
      std::lock_guard<std::mutex> guard{st.a->mtx};
      st.a->joined = false;
      st.a->connected = false;
    }
    st.a->cv.notify_all();
  });
  self->delayed_send(self, std::chrono::milliseconds(250), tick_atom::value);
  return {
    [self](connect_atom, caf::actor ctrl) {
      auto& st = self->state;
      if (self->current_sender()) // only the agent's own connector sends this (anonymously)
        return;
      st.controller = ctrl;
      self->monitor(ctrl);
      node_hello h;
      h.version = st.a->opts.version;
      h.app_digest = st.a->opts.app_digest;
      h.name = st.a->opts.name;
      h.cpu_capacity = st.a->opts.cpu_capacity;
      h.memory_mb = st.a->opts.memory_mb;
      h.speed = st.a->opts.speed;
      h.data_address = st.a->link->address();
      h.http_address = st.a->srv->runtime().app().gateway.host + ":" +
                       std::to_string(st.a->srv->port());
      const auto load = st.a->srv->control().load(); // once: it copies under the plane's lock
      h.running = load.ready;
      for (size_t f = 0; f < h.running.size() && f < load.starting.size(); ++f)
        h.running[f] += load.starting[f];
      self->request(ctrl, std::chrono::seconds(10), join_atom::value, h)
        .then(
          [self, ctrl](join_reply& r) {
            auto& st = self->state;
            auto* a = st.a;
            if (!r.accepted) {
              spdlog::error("node '{}': the controller refused it: {}", a->opts.name, r.reason);
              {
                std::lock_guard<std::mutex> guard{a->mtx};
                a->refused_reason = r.reason;
                a->answered = true;
              }
              a->cv.notify_all();
              return;
            }
            st.joined = true;
            st.epoch = 0; // epochs count per controller incarnation
            st.report_ms = std::clamp<uint32_t>(r.report_interval_ms, 50, 10000);
            a->link->set_secret(r.link_secret);
            {
              std::lock_guard<std::mutex> guard{a->mtx};
              a->joined = true;
              a->answered = true;
              a->joins++;
            }
            a->cv.notify_all();
            spdlog::info("node '{}': joined the cluster as node {}", a->opts.name, r.node_index);
            send_report(self);
          },
          [self](caf::error& e) {
            auto& st = self->state;
            spdlog::warn("node '{}': join failed: {}", st.a->opts.name, self->system().render(e));
            {
              std::lock_guard<std::mutex> guard{st.a->mtx};
              st.a->connected = false;
            }
            st.a->cv.notify_all();
          });
    },
    [self](assign_atom, node_assignment& x) {
      auto& st = self->state;
      if (!from_controller(self, "assignment"))
        return;
      if (auto bad = validate(x, st.a->opts.app.functions.size()); !bad.empty()) {
        spdlog::warn("node '{}': refused an assignment: {}", st.a->opts.name, bad);
        return;
      }
      if (x.epoch <= st.epoch) {
        spdlog::warn("node '{}': refused an out-of-order assignment (epoch {} after {})",
                     st.a->opts.name, x.epoch, st.epoch);
        return;
      }
      st.epoch = x.epoch;
      st.a->srv->control().set_targets(x.instances);
    },
    [self](directory_atom, cluster_view& v) {
      auto& st = self->state;
      if (!from_controller(self, "directory"))
        return;
      if (auto bad = validate(v, st.a->opts.app.functions.size()); !bad.empty()) {
        spdlog::warn("node '{}': refused a directory: {}", st.a->opts.name, bad);
        return;
      }
      if (v.controller_id == st.view_controller && v.version <= st.view_version) {
        spdlog::warn("node '{}': refused an out-of-order directory (version {} after {})",
                     st.a->opts.name, v.version, st.view_version);
        return;
      }
      st.view_controller = v.controller_id;
      st.view_version = v.version;
      st.a->link->update(v, st.a->opts.name);
      std::lock_guard<std::mutex> guard{st.a->mtx};
      st.a->view = std::move(v);
    },
    [self](activate_atom, uint16_t f, uint16_t chain) {
      auto& st = self->state;
      if (self->current_sender()) // from this process's gateway only (anonymous)
        return;
      if (st.joined && st.controller)
        self->send(st.controller, activate_atom::value, f, chain);
    },
    [self](tick_atom) {
      auto& st = self->state;
      if (st.joined && st.controller)
        send_report(self);
      self->delayed_send(self, std::chrono::milliseconds(st.report_ms), tick_atom::value);
    },
  };
}

} // namespace

core::expected<std::unique_ptr<node_agent>> node_agent::start(node_options opts) {
  if (auto ok = check(opts.tls); !ok)
    return ok.err();
  auto a = std::make_unique<node_agent>();
  a->impl_ = std::make_unique<impl>();
  auto* p = a->impl_.get();
  p->opts = std::move(opts);
  gateway::cluster_role role;
  role.remote = &p->remote;
  role.activate = [p](core::function_id f, core::chain_id c) {
    caf::actor agent;
    {
      std::lock_guard<std::mutex> guard{p->mtx}; // stop() clears it while gateway threads run
      agent = p->agent;
    }
    if (agent)
      caf::anon_send(agent, activate_atom::value, static_cast<uint16_t>(f), static_cast<uint16_t>(c));
  };
  role.status = [p] { return p->status_json(); };
  role.metrics = [p] { return p->metrics_text(); };
  auto srv = gateway::server::start(p->opts.app, std::move(p->opts.functions), p->opts.launcher,
                                    &role);
  if (!srv)
    return srv.err();
  p->srv = std::move(*srv);
  auto link = node_link::start(p->srv->gw(), {p->opts.data_host, p->opts.data_port, p->opts.name});
  if (!link)
    return link.err();
  p->link = std::move(*link);
  p->remote.target.store(p->link.get(), std::memory_order_release);

  p->cfg = std::make_unique<caf::actor_system_config>();
  configure(*p->cfg, p->opts.tls);
  add_message_types(*p->cfg);
  p->cfg->set("scheduler.max-threads", 2);
  p->cfg->set("logger.console", caf::atom("none"));
  p->sys = std::make_unique<caf::actor_system>(*p->cfg);
  {
    std::lock_guard<std::mutex> guard{p->mtx};
    p->agent = p->sys->spawn(node_actor, p);
  }
  p->connector = std::thread([p] { p->connect_loop(); });
  return a;
}

node_agent::~node_agent() { stop(0); }

uint16_t node_agent::http_port() const { return impl_->srv ? impl_->srv->port() : 0; }
std::string node_agent::data_address() const { return impl_->link ? impl_->link->address() : ""; }

std::string node_agent::refused(unsigned wait_ms) const {
  std::unique_lock<std::mutex> lock{impl_->mtx};
  impl_->cv.wait_for(lock, std::chrono::milliseconds(wait_ms),
                     [&] { return impl_->answered || impl_->stopping; });
  return impl_->refused_reason;
}

void node_agent::stop(unsigned drain_ms) {
  auto* p = impl_.get();
  if (!p)
    return;
  {
    std::lock_guard<std::mutex> guard{p->mtx};
    if (p->stopping)
      return;
    p->stopping = true;
  }
  p->cv.notify_all();
  if (p->connector.joinable())
    p->connector.join();
  // The agent actor first: its reports read the gateway and the control plane, which stop next.
  // (The controller sees this node leave and places its instances elsewhere while it drains.)
  caf::actor agent;
  {
    std::lock_guard<std::mutex> guard{p->mtx};
    agent = std::move(p->agent);
    p->agent = nullptr;
  }
  if (p->sys && agent) {
    caf::scoped_actor self{*p->sys};
    self->send_exit(agent, caf::exit_reason::user_shutdown);
    self->wait_for(agent);
  }
  agent = nullptr;
  if (p->srv)
    p->srv->stop(drain_ms); // drains HTTP first: requests on other nodes can still come back
  if (p->link)
    p->link->stop();
  p->remote.target.store(nullptr, std::memory_order_release);
  p->sys.reset();
  p->srv.reset();
  p->link.reset();
}

} // namespace spry::cluster
