// The controller actor in one process (no TLS: the same behavior the middleman delivers to):
// joins checked, placement assigned, and malformed or out-of-order messages refused without
// changing what the controller believes.

#include "cluster/controller.hpp"
#include "cluster/messages.hpp"
#include "core/config.hpp"
#include "gateway/server.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace spry::cluster;
using json = nlohmann::json;

namespace {

node_hello hello_from(const std::string& name, const std::string& version = "t1") {
  node_hello h;
  h.version = version;
  h.app_digest = "d1";
  h.name = name;
  h.cpu_capacity = 2;
  h.memory_mb = 1024;
  h.data_address = "127.0.0.1:9";
  h.http_address = "127.0.0.1:10";
  return h;
}

node_report report(uint64_t seq, uint64_t requests) {
  node_report r;
  r.seq = seq;
  r.functions.resize(2);
  r.ready = r.starting = r.held = {0, 0};
  r.requests = requests;
  return r;
}

json node_status(caf::actor_system& sys, const caf::actor& ctrl, const std::string& name) {
  const auto j = json::parse(controller_status(sys, ctrl));
  for (const auto& n : j.at("nodes"))
    if (n.at("name") == name)
      return n;
  return json();
}

} // namespace

TEST_CASE("the controller refuses bad joins and out-of-order or malformed reports", "[cluster]") {
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  auto app = spry::core::load_app_file(SPRY_EXAMPLES_DIR "/hello/hello.yaml", spry::gateway::transports());
  REQUIRE(app);
  controller_options opts;
  opts.app = *app;
  opts.app_digest = "d1";
  opts.version = "t1";
  opts.node_timeout = std::chrono::seconds(30);
  auto ctrl = spawn_controller(sys, opts);
  REQUIRE(ctrl);
  caf::scoped_actor node{sys};
  auto join = [&](const node_hello& h) {
    join_reply r;
    node->request(*ctrl, std::chrono::seconds(5), join_atom::value, h)
      .receive([&](join_reply& x) { r = std::move(x); }, [&](caf::error&) { FAIL("no reply"); });
    return r;
  };

  auto r = join(hello_from("edge-a", "t0"));
  CHECK_FALSE(r.accepted);
  CHECK(r.reason.find("version mismatch") != std::string::npos);
  auto bad = hello_from("edge-a");
  bad.app_digest = "other";
  CHECK(join(bad).reason.find("app mismatch") != std::string::npos);
  bad = hello_from("edge\x01");
  CHECK(join(bad).reason.find("malformed hello") != std::string::npos);

  r = join(hello_from("edge-a"));
  REQUIRE(r.accepted);
  CHECK(r.link_secret.size() == 64);
  // It is told what to run: hello's two functions, one instance each, on its only node.
  bool assigned = false;
  node->receive_while([&] { return !assigned; })(
    [&](assign_atom, node_assignment& a) {
      CHECK(a.instances == std::vector<uint32_t>{1, 1});
      assigned = true;
    },
    [&](directory_atom, cluster_view&) {}, caf::after(std::chrono::seconds(5)) >> [&] { FAIL("no assignment"); });

  node->send(*ctrl, report_atom::value, report(5, 50));
  CHECK(node_status(sys, *ctrl, "edge-a").value("requests", 0) == 50);
  node->send(*ctrl, report_atom::value, report(4, 40)); // older than the last: refused
  CHECK(node_status(sys, *ctrl, "edge-a").value("requests", 0) == 50);
  auto malformed = report(6, 60);
  malformed.ready.pop_back();
  node->send(*ctrl, report_atom::value, malformed);
  CHECK(node_status(sys, *ctrl, "edge-a").value("requests", 0) == 50);
  node->send(*ctrl, report_atom::value, report(7, 70));
  CHECK(node_status(sys, *ctrl, "edge-a").value("requests", 0) == 70);

  // A peer that never joined can neither report nor activate anything.
  caf::scoped_actor stranger{sys};
  stranger->send(*ctrl, report_atom::value, report(100, 1000));
  stranger->send(*ctrl, activate_atom::value, uint16_t{0}, uint16_t{0});
  CHECK(node_status(sys, *ctrl, "edge-a").value("requests", 0) == 70);
  CHECK(json::parse(controller_status(sys, *ctrl)).at("nodes").size() == 1);
  caf::anon_send_exit(*ctrl, caf::exit_reason::user_shutdown);
}
