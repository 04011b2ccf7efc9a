// The control plane's report writers, fed a hand-made snapshot: every family is valid Prometheus
// text with the values given, and the status JSON says what the snapshot holds.
#include "gateway/control_report.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/prometheus_text.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace spry;
using gateway::control_report;
using spry::test::metric_value;

namespace {

control_report sample_report() {
  control_report r;
  r.app = "shop";
  r.transport = "tcp";
  r.cpu_limits = "cgroup v2";
  r.load_balancer = "least_connections";
  r.autoscaler = "kpa";
  r.placement = "spread";
  r.interval_ms = 2000;
  control_report::function cart;
  cart.name = "cart";
  cart.min_instances = 1;
  cart.max_instances = 4;
  cart.desired = 2;
  cart.arrival_rate = 12.5;
  cart.held = 3;
  cart.activator_in_path = true;
  cart.activator_holds = 17;
  cart.scale_ups = 2;
  cart.scale_downs = 1;
  cart.cold_count = 2;
  cart.cold_sum = 0.3;
  cart.cold_buckets.assign(gateway::cold_start_bounds.size(), 0);
  // Cumulative, as the control plane counts them: one start of 0.1 s, one of 0.25 s.
  for (size_t b = 4; b < cart.cold_buckets.size(); ++b)
    cart.cold_buckets[b] = b == 4 ? 1 : 2;
  cart.exec[0] = 5;
  cart.exec[2] = 7;
  cart.busy_ns = 2000000000;
  control_report::function pay;
  pay.name = "pay \"quoted\"";
  pay.cold_buckets.assign(gateway::cold_start_bounds.size(), 0);
  r.functions = {cart, pay};
  control_report::instance a;
  a.endpoint = 1;
  a.function = 0;
  a.st = control_report::state::ready;
  a.node = "local";
  a.in_flight = 2;
  a.on_board = true;
  a.completions = 40;
  a.busy_ns = 1500000000;
  a.pid = 4242;
  a.restarts = 1;
  a.address = "127.0.0.1:4000";
  control_report::instance b = a;
  b.endpoint = 3;
  b.st = control_report::state::retiring;
  b.pid.reset();
  b.cpu_limit_cores = 0.5;
  b.cpu_cgroup = "spry-shop/3";
  control_report::instance c;
  c.endpoint = 4;
  c.function = 1;
  c.st = control_report::state::starting;
  r.instances = {a, b, c};
  control_report::node n;
  n.name = "local";
  n.cpus = {0, 1};
  n.cpu_allocated = 1.5;
  n.memory_allocated_mib = 256;
  n.cpu_capacity = 2;
  r.nodes = {n};
  return r;
}

} // namespace

TEST_CASE("control report: the metrics are valid Prometheus text with the snapshot's values",
          "[gateway][control_report]") {
  const auto text = gateway::metrics_text(sample_report());
  CHECK(test::prometheus_text_error(text).empty());
  CHECK(metric_value(text, "spry_function_instances{function=\"cart\",state=\"ready\"}") == 1.0);
  CHECK(metric_value(text, "spry_function_instances{function=\"cart\",state=\"retiring\"}") == 1.0);
  CHECK(metric_value(text, "spry_function_instances{function=\"pay \\\"quoted\\\"\",state=\"starting\"}") == 1.0);
  CHECK(metric_value(text, "spry_function_desired_instances{function=\"cart\"}") == 2.0);
  CHECK(metric_value(text, "spry_function_held_requests{function=\"cart\"}") == 3.0);
  CHECK(metric_value(text, "spry_function_activator_in_path{function=\"cart\"}") == 1.0);
  CHECK(metric_value(text, "spry_function_activator_holds_total{function=\"cart\"}") == 17.0);
  CHECK(metric_value(text, "spry_function_activator_in_path{function=\"pay \\\"quoted\\\"\"}") == 0.0);
  CHECK(metric_value(text, "spry_scaling_events_total{function=\"cart\",direction=\"down\"}") == 1.0);
  // Histograms end at +Inf = count.
  CHECK(metric_value(text, "spry_cold_start_seconds_bucket{function=\"cart\",le=\"0.1\"}") == 1.0);
  CHECK(metric_value(text, "spry_cold_start_seconds_bucket{function=\"cart\",le=\"0.25\"}") == 2.0);
  CHECK(metric_value(text, "spry_cold_start_seconds_bucket{function=\"cart\",le=\"+Inf\"}") == 2.0);
  CHECK(metric_value(text, "spry_function_execution_seconds_count{function=\"cart\"}") == 12.0);
  CHECK(metric_value(text, "spry_function_execution_seconds_sum{function=\"cart\"}") == 2.0);
  CHECK(metric_value(text, "spry_instance_in_flight{function=\"cart\",instance=\"1\",transport=\"tcp\"}") == 2.0);
  CHECK(metric_value(text, "spry_instance_completed_total{function=\"cart\",instance=\"3\",transport=\"tcp\"}") == 40.0);
  // No board slot: no counters for it (but its in-flight gauge).
  CHECK(!metric_value(text, "spry_instance_completed_total{function=\"pay \\\"quoted\\\"\",instance=\"4\",transport=\"tcp\"}"));
  CHECK(metric_value(text, "spry_node_cpu_allocated{node=\"local\"}") == 1.5);
  CHECK(metric_value(text, "spry_node_memory_allocated_bytes{node=\"local\"}") == 256.0 * 1048576);
}

TEST_CASE("control report: the status JSON lists functions, their instances and nodes",
          "[gateway][control_report]") {
  const auto j = nlohmann::json::parse(gateway::status_json(sample_report()));
  CHECK(j.at("app") == "shop");
  CHECK(j.at("policies").at("autoscaler") == "kpa");
  REQUIRE(j.at("functions").size() == 2);
  const auto& cart = j.at("functions")[0];
  CHECK(cart.at("name") == "cart");
  CHECK(cart.at("desired_instances") == 2);
  CHECK(cart.at("cold_start_mean_s").get<double>() == Approx(0.15));
  REQUIRE(cart.at("instances").size() == 2);
  CHECK(cart.at("instances")[0].at("state") == "ready");
  CHECK(cart.at("instances")[0].at("pid") == 4242);
  CHECK(cart.at("instances")[0].at("address") == "127.0.0.1:4000");
  CHECK(!cart.at("instances")[0].contains("cpu_limit_cores"));
  CHECK(cart.at("instances")[1].at("state") == "retiring");
  CHECK(!cart.at("instances")[1].contains("pid")); // an actor: no process
  CHECK(cart.at("instances")[1].at("cpu_limit_cores") == 0.5);
  CHECK(j.at("functions")[1].at("instances")[0].at("state") == "starting");
  REQUIRE(j.at("nodes").size() == 1);
  CHECK(j.at("nodes")[0].at("cpu_capacity") == 2.0);
  CHECK(!j.at("nodes")[0].contains("memory_capacity_mib")); // unbounded
  CHECK(!j.at("nodes")[0].contains("instance_cpu_limit"));
}
