#include "transports/tcp/pod_setup.hpp"

#include "transports/tcp/pod_network.hpp"
#include "transports/tcp/tcp_config.hpp"

#include <unistd.h>

#include <cstdio>

namespace spry::transports::tcp {

namespace {

class pods final : public core::node_preparation {
public:
  explicit pods(std::shared_ptr<pod_network> net) : net_(std::move(net)) {}

  std::shared_ptr<core::instance_network> network() const override { return net_; }

  std::string started() const override {
    return "pods: gateway in namespace spry-" + std::to_string(getpid()) +
           "-gateway, clients from namespace " + net_->client_namespace() + " (" +
           net_->client_ip() + "), xdp_tc_redirect " + (net_->redirect() ? "on" : "off");
  }

  std::string stopped() const override {
    // Counted by the forwarding programs over the whole run (all zero when off).
    const auto c = net_->counters();
    char line[256];
    std::snprintf(line, sizeof line,
                  "xdp_tc_redirect counters: redirected=%llu passed=%llu (not_ipv4=%llu "
                  "fragment=%llu ttl=%llu no_fib=%llu no_neigh=%llu foreign=%llu)",
                  (unsigned long long)c.redirected, (unsigned long long)c.passed(),
                  (unsigned long long)c.pass_not_ipv4, (unsigned long long)c.pass_fragment,
                  (unsigned long long)c.pass_ttl, (unsigned long long)c.pass_no_fib,
                  (unsigned long long)c.pass_no_neigh, (unsigned long long)c.pass_foreign);
    return line;
  }

private:
  std::shared_ptr<pod_network> net_;
};

} // namespace

core::expected<std::unique_ptr<core::node_preparation>> prepare_pods(core::app_spec& app) {
  const auto& settings = tcp_config_of(app);
  if (!settings.namespaces)
    return std::unique_ptr<core::node_preparation>();
  auto net = pod_network::create({settings.xdp_tc_redirect});
  if (!net)
    return net.err();
  if (auto in = (*net)->enter_gateway_pod(); !in)
    return in.err();
  app.gateway.host = (*net)->gateway_ip();
  return std::unique_ptr<core::node_preparation>(new pods(std::move(*net)));
}

} // namespace spry::transports::tcp
