#include "transports/tcp/tcp_config.hpp"

#include "core/yaml_walker.hpp"

namespace spry::transports::tcp {

namespace {

const char* const namespaces_conflict =
  "tcp.namespaces: not supported together with tcp.sidecar or tcp.front_end yet (they listen on "
  "loopback outside the pods)";

std::unique_ptr<core::transport_config> parse(const core::yaml_walker& w, const YAML::Node& n) {
  w.expect_map(n, "tcp");
  w.only_keys(n, "tcp", {"sidecar", "front_end", "connections_per_peer", "namespaces",
                         "xdp_tc_redirect"});
  auto c = std::make_unique<tcp_config>();
  if (n["sidecar"])
    c->sidecar = w.boolean(n["sidecar"], "tcp.sidecar");
  if (n["front_end"]) {
    c->front_end = w.str(n["front_end"], "tcp.front_end");
    if (c->front_end != "none" && c->front_end != "nginx")
      w.fail(n["front_end"], "tcp.front_end: expected none or nginx, got '" + c->front_end + "'");
  }
  if (n["connections_per_peer"]) {
    c->connections_per_peer =
      static_cast<unsigned>(w.uint(n["connections_per_peer"], "tcp.connections_per_peer", 1024));
    if (c->connections_per_peer == 0)
      w.fail(n["connections_per_peer"], "tcp.connections_per_peer: must be at least 1");
  }
  if (n["namespaces"])
    c->namespaces = w.boolean(n["namespaces"], "tcp.namespaces");
  if (n["xdp_tc_redirect"]) {
    c->xdp_tc_redirect = w.boolean(n["xdp_tc_redirect"], "tcp.xdp_tc_redirect", true);
    if (c->xdp_tc_redirect && !c->namespaces)
      w.fail(n["xdp_tc_redirect"], "tcp.xdp_tc_redirect: on needs tcp.namespaces: true (the "
                                   "programs sit on the pods' veths)");
  }
  if (c->namespaces && (c->sidecar || c->front_end != "none"))
    w.fail(n["namespaces"], namespaces_conflict);
  return c;
}

} // namespace

std::unique_ptr<core::transport_config> tcp_config::clone() const {
  return std::make_unique<tcp_config>(*this);
}

std::string tcp_config::dump() const {
  auto flag = [](bool b) { return b ? "true" : "false"; };
  return std::string("sidecar: ") + flag(sidecar) + "\nfront_end: " + front_end +
         "\nconnections_per_peer: " + std::to_string(connections_per_peer) +
         "\nnamespaces: " + flag(namespaces) +
         "\nxdp_tc_redirect: " + (xdp_tc_redirect ? "on" : "off") + "\n";
}

const tcp_config& tcp_config_of(const core::app_spec& app) {
  static const tcp_config defaults;
  const auto* c = app.transport_settings.get<tcp_config>(tcp_config::key);
  return c ? *c : defaults;
}

core::status_or_error check_tcp_config(const tcp_config& c, const core::app_spec& app) {
  const auto at = c.where.prefix();
  if (c.front_end != "none" && c.front_end != "nginx")
    return core::make_error(at + "tcp.front_end: expected 'none' or 'nginx', got '" + c.front_end +
                            "'");
  if (c.connections_per_peer == 0)
    return core::make_error(at + "tcp.connections_per_peer: must be at least 1");
  if (c.xdp_tc_redirect && !c.namespaces)
    return core::make_error(at + "tcp.xdp_tc_redirect: on needs tcp.namespaces: true (the "
                                 "programs sit on the pods' veths)");
  // Sidecars and a front end are the tcp baseline's own processes: another transport has
  // neither, and saying so beats silently running without them.
  if (c.sidecar && app.transport != "tcp")
    return core::make_error(at + "tcp.sidecar: transport '" + app.transport +
                            "' has no sidecar (it is part of the tcp baseline)");
  if (c.front_end != "none" && app.transport != "tcp")
    return core::make_error(at + "tcp.front_end: transport '" + app.transport +
                            "' cannot put a front end between endpoints");
  if (c.namespaces && app.transport == "tcp" && (c.sidecar || c.front_end != "none"))
    return core::make_error(at + namespaces_conflict);
  return {};
}

core::config_section tcp_config_section() {
  core::config_section s;
  s.key = tcp_config::key;
  s.transport = "tcp";
  s.parse = parse;
  s.defaults = [] { return std::make_unique<tcp_config>(); };
  s.check = [](const core::transport_config& c, const core::app_spec& app) -> core::status_or_error {
    // The parser stores a tcp_config; app::configure() takes whatever a C++ app passes.
    const auto* t = dynamic_cast<const tcp_config*>(&c);
    if (!t)
      return core::make_error(c.where.prefix() + "tcp: settings of another type than "
                                                  "spry::transports::tcp::tcp_config");
    return check_tcp_config(*t, app);
  };
  // `spry run --namespaces --xdp-tc-redirect on`: the same keys as the section, for trying an app
  // in pods without editing its file.
  s.options = {
    {"--namespaces",
     "tcp: run the gateway and every instance in a network namespace of its own (pods), as "
     "tcp.namespaces: true (needs root)",
     {}},
    {"--xdp-tc-redirect",
     "tcp with namespaces: eBPF FIB-lookup redirect between pods, as tcp.xdp_tc_redirect (on "
     "implies --namespaces)",
     {"on", "off"}},
  };
  s.apply_options = [](core::app_spec& app,
                       const core::command_line_values& given) -> core::status_or_error {
    // As if the app file said so: the section's check then refuses what does not go together
    // with it (a sidecar, a front end).
    auto settings = tcp_config_of(app);
    const auto ns = given.find("--namespaces");
    const auto redirect = given.find("--xdp-tc-redirect");
    const bool redirect_on = redirect != given.end() && redirect->second == "on";
    if ((ns != given.end() && ns->second == "true") || redirect_on)
      settings.namespaces = true;
    if (redirect != given.end())
      settings.xdp_tc_redirect = redirect_on;
    app.transport_settings.set(settings.clone());
    return {};
  };
  return s;
}

} // namespace spry::transports::tcp
