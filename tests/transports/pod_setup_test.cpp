// transports/tcp/pod_setup: the tcp transport's node preparation, as the gateway calls it through
// the registry. The namespaced half needs root: says so and does not run otherwise (label netns).
#include "tests/support/netns.hpp"
#include "transports/register.hpp"
#include "transports/tcp/pod_setup.hpp"
#include "transports/tcp/tcp_config.hpp"

#include <catch2/catch.hpp>

#include <thread>

using spry::transports::tcp::prepare_pods;
using spry::transports::tcp::tcp_config;

TEST_CASE("pod_setup: the tcp entry prepares nothing without tcp.namespaces", "[netns][pods]") {
  spry::core::transport_registry registry;
  spry::transports::register_all(registry);
  const auto* tcp = registry.find("tcp");
  REQUIRE(tcp);
  REQUIRE(tcp->prepare_node);
  spry::core::app_spec app;
  app.transport = "tcp";
  auto prepared = tcp->prepare_node(app);
  REQUIRE(prepared);
  CHECK(*prepared == nullptr);
  CHECK(app.gateway.host == "127.0.0.1");
  // Transports without pods register no preparation at all.
  REQUIRE(registry.find("local"));
  CHECK_FALSE(registry.find("local")->prepare_node);
}

TEST_CASE("pod_setup: with tcp.namespaces the gateway's thread moves into its pod and listens "
          "there, and instances get pods", "[netns][pods]") {
  if (auto missing = spry::test::netns_missing(); !missing.empty()) {
    WARN("SKIPPED: pod_setup did not run: " << missing);
    return;
  }
  spry::core::app_spec app;
  app.transport = "tcp";
  tcp_config t;
  t.namespaces = true;
  app.transport_settings.set(t.clone());
  // On a thread of its own: prepare_pods moves the calling thread into the gateway's pod, and
  // the test's main thread stays where it is.
  spry::core::expected<std::unique_ptr<spry::core::node_preparation>> prepared =
    spry::core::make_error("not run");
  std::string netns_after;
  std::thread([&] {
    prepared = prepare_pods(app);
    char link[64] = {};
    if (readlink("/proc/thread-self/ns/net", link, sizeof link - 1) > 0)
      netns_after = link;
  }).join();
  REQUIRE(prepared);
  REQUIRE(*prepared);
  auto& node = **prepared;
  char mine[64] = {};
  REQUIRE(readlink("/proc/thread-self/ns/net", mine, sizeof mine - 1) > 0);
  CHECK(netns_after != mine); // that thread was in another namespace: the gateway's pod
  CHECK(app.gateway.host != "127.0.0.1");
  CHECK(app.gateway.host.rfind("10.213.", 0) == 0);
  CHECK_THAT(node.started(), Catch::StartsWith("pods: gateway in namespace spry-") &&
                               Catch::Contains("xdp_tc_redirect off"));
  CHECK_THAT(node.stopped(), Catch::StartsWith("xdp_tc_redirect counters: redirected=0"));
  auto net = node.network();
  REQUIRE(net);
  auto pod = net->open(5);
  REQUIRE(pod);
  CHECK(pod->netns_fd >= 0);
  CHECK(pod->listen_fd >= 0);
  CHECK(pod->address.rfind("10.213.", 0) == 0);
  ::close(pod->listen_fd);
  net->close(5);
  prepared = spry::core::make_error("done"); // removes the pods; the network goes with the last owner
  net.reset();
}
