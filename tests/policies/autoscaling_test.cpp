#include "policies/autoscaling/autoscaler.hpp"
#include "policies/autoscaling/fair_share.hpp"
#include "policies/autoscaling/fixed.hpp"
#include "policies/autoscaling/kpa.hpp"
#include "policies/autoscaling/lass.hpp"
#include "policies/autoscaling/mmc_model.hpp"
#include "policies/autoscaling/mu.hpp"
#include "policies/autoscaling/mu_mm1.hpp"

#include <catch2/catch.hpp>

#include <cmath>

using namespace spry::policies;
using namespace spry::policies::autoscaling;

namespace {

// One function, one tick of `interval` seconds ending at `now`.
scaling_snapshot one(double now, function_metrics m, double interval = 2) {
  scaling_snapshot s;
  s.now_s = now;
  s.interval_s = interval;
  s.functions.push_back(m);
  return s;
}

uint32_t decide_one(autoscaler& a, double now, const function_metrics& m) {
  std::vector<scaling_decision> out;
  a.decide(one(now, m), out);
  REQUIRE(out.size() == 1);
  return out[0].instances;
}

} // namespace

TEST_CASE("KPA: stable sizing, panic entry, no scale-down in panic, panic exit", "[autoscaling]") {
  kpa_options o;
  o.target_concurrency = 10; // with utilisation 0.7: 7 requests in flight per instance
  kpa k(o);
  function_metrics m;
  m.instance_concurrency = 0; // no container-concurrency limit: the target applies
  m.ready_instances = 2;
  m.concurrency = 14;
  double t = 0;
  uint32_t want = 0;
  for (t = 2; t <= 60; t += 2)
    want = decide_one(k, t, m);
  CHECK(want == 2); // 14 / 7
  CHECK_FALSE(k.panicking(0));

  // t = 62: 42 in flight. Panic window (56, 62]: samples 14, 14, 42 -> 23.33 -> 4 instances,
  // 4 / 2 ready = 2 >= the 2.0 threshold: panic. Stable window (2, 62]: 29 x 14 + 42 over 30
  // samples = 14.93 -> 3. Panic takes the larger: 4.
  m.concurrency = 42;
  CHECK(decide_one(k, 62, m) == 4);
  CHECK(k.panicking(0));
  // t = 64 with 4 ready: panic window 14, 42, 42 -> 32.67 -> 5; 5 / 4 < 2 (no new crossing) but
  // still panicking since 62: 5.
  m.ready_instances = 4;
  CHECK(decide_one(k, 64, m) == 5);
  CHECK(k.panicking(0));
  // Steady 42 from here on: 6 instances; then the load drops to 7 at t = 100. In panic nothing
  // scales down: still 6.
  m.ready_instances = 6;
  for (t = 66; t < 100; t += 2)
    CHECK(decide_one(k, t, m) == 6);
  m.concurrency = 7;
  for (t = 100; t <= 122; t += 2) {
    CHECK(decide_one(k, t, m) == 6);
    CHECK(k.panicking(0)); // the threshold was last crossed at 62: panic lasts until after 122
  }
  // t = 124 > 62 + 60: panic ends. Stable window (64, 124]: 17 samples of 42 (66..98) and 13 of
  // 7 (100..124) -> (714 + 91) / 30 = 26.83 -> ceil(3.83) = 4; max scale-down 6 / 2 = 3: 4.
  CHECK(decide_one(k, 124, m) == 4);
  CHECK_FALSE(k.panicking(0));
}

TEST_CASE("KPA: scale to zero after the stable window and the grace period", "[autoscaling]") {
  kpa k; // Knative defaults: 60 s stable window, 30 s grace
  function_metrics m;
  m.instance_concurrency = 1; // container concurrency 1: target 0.7 in flight per instance
  m.ready_instances = 1;
  m.concurrency = 0.7;
  CHECK(decide_one(k, 2, m) == 1);
  CHECK(k.target_per_instance(m) == Approx(0.7));
  m.concurrency = 0;
  // The last busy sample ends at t = 2; the stable window holds only zeros from t = 62.
  for (double t = 4; t < 62; t += 2)
    CHECK(decide_one(k, t, m) == 1);
  // From 62 the wanted count is 0; kept at one warm instance for the 30 s grace.
  for (double t = 62; t < 92; t += 2)
    CHECK(decide_one(k, t, m) == 1);
  CHECK(decide_one(k, 92, m) == 0);
  // Traffic again: up from zero at once.
  m.ready_instances = 0;
  m.concurrency = 3;
  CHECK(decide_one(k, 94, m) >= 1);
}

TEST_CASE("M/M/c: Erlang C and the smallest server count meeting the SLO", "[autoscaling]") {
  // c = 1: P(wait) = rho.
  CHECK(erlang_c(1, 0.8) == Approx(0.8));
  // c = 2, a = 0.8: (a^2/2 / (1 - 0.4)) / (1 + a + a^2/2 / 0.6) = 0.5333 / 2.3333.
  CHECK(erlang_c(2, 0.8) == Approx(0.228571).epsilon(1e-5));
  CHECK(erlang_c(3, 3.0) == 1.0); // unstable
  // lambda 8/s, 100 ms service, SLO 300 ms at p95: wait budget 0.2 s.
  // c = 1: 0.8 * exp(-(10 - 8) * 0.2) = 0.536 > 0.05; c = 2: 0.2286 * exp(-2.4) = 0.0207.
  CHECK(wait_exceeds(1, 8, 10, 0.2) == Approx(0.8 * std::exp(-0.4)));
  CHECK(servers_for_slo(8, 10, 0.3, 0.95) == 2);
  // lambda 30/s, mu 10/s, SLO 200 ms at p99 (budget 0.1 s), by hand with Erlang B recursion:
  // c = 4: C = 0.5094, P = 0.5094 e^-1 = 0.187; c = 5: C = 0.2362, P = 0.2362 e^-2 = 0.0320;
  // c = 6: C = 0.0992, P = 0.0992 e^-3 = 0.00494 <= 0.01.
  CHECK(erlang_c(4, 3) == Approx(0.5094).epsilon(1e-3));
  CHECK(erlang_c(5, 3) == Approx(0.2362).epsilon(1e-3));
  CHECK(servers_for_slo(30, 10, 0.2, 0.99) == 6);
  CHECK(servers_for_slo(0, 10, 0.2, 0.99) == 0);
  // SLO shorter than a service: nobody may wait (beyond 1 %): P(wait) = C(c, 3) <= 0.01.
  const uint32_t c = servers_for_slo(30, 10, 0.05, 0.99);
  CHECK(erlang_c(c, 3) <= 0.01);
  CHECK(erlang_c(c - 1, 3) > 0.01);
  // Large pools stay finite and stable (the closed form would overflow).
  CHECK(servers_for_slo(5000, 10, 0.2, 0.99) > 500);
  CHECK(servers_for_slo(5000, 10, 0.2, 0.99) < 560);
}

TEST_CASE("fair share: water filling by weight", "[autoscaling]") {
  auto a = fair_share({2, 6, 8}, {1, 1, 1}, 10);
  CHECK(a[0] == Approx(2)); // asks less than its third
  CHECK(a[1] == Approx(4)); // the other two split the remaining 8
  CHECK(a[2] == Approx(4));
  auto w = fair_share({10, 10}, {3, 1}, 8);
  CHECK(w[0] == Approx(6));
  CHECK(w[1] == Approx(2));
  auto under = fair_share({1, 2}, {1, 1}, 10); // no overload: everyone gets their demand
  CHECK(under[0] == Approx(1));
  CHECK(under[1] == Approx(2));
}

TEST_CASE("LaSS: M/M/c sizing, fair share under overload, deflation before termination",
          "[autoscaling]") {
  lass_options o;
  o.rate_smoothing = 1; // use this tick's rate as is
  lass l(o);
  function_metrics m;
  m.service_time_s = 0.1;
  m.slo_s = 0.2;
  m.slo_percentile = 0.99;
  m.arrival_rate = 30;
  m.ready_instances = 2;
  std::vector<scaling_decision> out;
  l.decide(one(10, m), out);
  CHECK(out[0].instances == 6); // servers_for_slo(30, 10, 0.2, 0.99), one server per instance
  CHECK(out[0].cpu_fraction == 1.0);

  // Instances of two servers each: 3.
  m.instance_concurrency = 2;
  CHECK(l.needed_capacity(m, 30) == 3);
  m.instance_concurrency = 1;

  // Deflation: 5 running, 3 needed: keep all five at 3/5 of their CPU.
  auto d = l.shape(3, 5);
  CHECK(d.instances == 5);
  CHECK(d.cpu_fraction == Approx(0.6));
  // 2 needed of 5: 0.4 is under the 0.5 floor: 4 instances at 0.5 (terminate one).
  d = l.shape(2, 5);
  CHECK(d.instances == 4);
  CHECK(d.cpu_fraction == Approx(0.5));
  // Growing from a deflated state: inflate first, add only beyond full size.
  d = l.shape(4.5, 5);
  CHECK(d.instances == 5);
  CHECK(d.cpu_fraction == Approx(0.9));
  d = l.shape(7, 5);
  CHECK(d.instances == 7);
  CHECK(d.cpu_fraction == 1.0);

  // Overload: 10 cores, three functions needing 2, 6 and 8 one-core instances.
  lass fair(o);
  scaling_snapshot s;
  s.now_s = 10;
  s.cluster_cpu = 10;
  function_metrics f = m;
  f.slo_s = 0; // size to 70 % utilisation: rate * 0.1 / 0.7 instances
  for (double rate : {14.0, 42.0, 56.0}) {
    f.arrival_rate = rate;
    f.ready_instances = 0;
    s.functions.push_back(f);
  }
  fair.decide(s, out);
  REQUIRE(out.size() == 3);
  CHECK(out[0].instances == 2);
  CHECK(out[1].instances * out[1].cpu_fraction == Approx(4));
  CHECK(out[2].instances * out[2].cpu_fraction == Approx(4));
  double cpu = 0;
  for (auto& x : out)
    cpu += x.instances * x.cpu_fraction;
  CHECK(cpu <= 10 + 1e-9);
}

TEST_CASE("LaSS: idle functions deflate, then go to zero after the grace period", "[autoscaling]") {
  lass_options o;
  o.scale_to_zero_grace_s = 30;
  lass l(o);
  function_metrics m;
  m.service_time_s = 0.1;
  m.ready_instances = 3;
  m.arrival_rate = 20;
  std::vector<scaling_decision> out;
  l.decide(one(0, m), out);
  CHECK(out[0].instances >= 1);
  m.arrival_rate = 0; // idle from t = 2 (the smoothed rate is not 0 yet: it must not matter)
  l.decide(one(2, m), out);
  CHECK(out[0].instances == 1);
  CHECK(out[0].cpu_fraction == Approx(0.5));
  l.decide(one(31, m), out);
  CHECK(out[0].instances == 1);
  l.decide(one(32, m), out);
  CHECK(out[0].instances == 0);
  // One request comes back: no longer idle.
  m.ready_instances = 0;
  m.arrival_rate = 0.5;
  l.decide(one(34, m), out);
  CHECK(out[0].instances == 1);
}

TEST_CASE("mu-mm1 autoscaler: SLO utilisation, queue drain, prediction, delayed scale-down",
          "[autoscaling]") {
  mu_mm1_options o;
  o.predictor.epsilon = 0;
  mu_mm1 a(o);
  function_metrics m;
  m.service_time_s = 0.1;
  m.slo_s = 1.0;
  m.slo_percentile = 0.95;
  // u = 1 - 0.1 * ln(20) / 1 = 0.70; 50 req/s * 0.1 s = 5 busy servers / 0.70 = 7.14 -> 8.
  CHECK(a.utilization_for(m) == Approx(1 - 0.1 * std::log(20.0)));
  CHECK(a.instances_for(m, 50, 0) == 8);
  // 90 queued drain within the SLO's slack, 1 - 0.1 = 0.9 s, but no faster than a cold start
  // (lookahead 2 s): +45 req/s -> 95 * 0.1 / 0.70 = 13.6 -> 14.
  CHECK(a.instances_for(m, 50, 90) == 14);
  // With instances that start in 0.5 s the slack rules: +100 req/s -> 150 * 0.1 / 0.70 -> 22.
  mu_mm1_options quick = o;
  quick.lookahead_s = 0.5;
  CHECK(mu_mm1(quick).instances_for(m, 50, 90) == 22);
  // A loose SLO is capped at 90 % utilisation, a tight one floored at 50 %.
  m.slo_s = 100;
  CHECK(a.utilization_for(m) == Approx(0.9));
  m.slo_s = 0.2;
  CHECK(a.utilization_for(m) == Approx(0.5));
  m.slo_s = 1.0;

  // A steady ramp of +4 req/s per 2 s tick: the bandit's regressions see the trend, so the
  // count is sized for the rate 2 s ahead, not the one just measured.
  std::vector<scaling_decision> out;
  double t = 0;
  for (int i = 0; i < 20; ++i) {
    t += 2;
    m.arrival_rate = 20 + 4 * i;
    m.ready_instances = 10;
    m.concurrency = 5;
    a.decide(one(t, m), out);
  }
  CHECK(a.predicted_rate(0) == Approx(20 + 4 * 20).margin(0.5)); // next tick's rate
  CHECK(out[0].instances == a.instances_for(m, 20 + 4 * 20, 0));

  // The load falls to 10 req/s: the count needed is 2, but it only drops once the lower need
  // has held for the 30 s scale-down delay.
  const uint32_t high = out[0].instances;
  m.ready_instances = high;
  const double drop = t + 2;
  for (t = drop; t < drop + 30; t += 2) {
    m.arrival_rate = 10;
    a.decide(one(t, m), out);
    CHECK(out[0].instances >= 2);
  }
  for (int i = 0; i < 10; ++i, t += 2)
    a.decide(one(t, m), out);
  CHECK(out[0].instances == a.instances_for(m, 10, 0));
  CHECK(out[0].instances == 2); // 10 * 0.1 / 0.70 = 1.43
}

TEST_CASE("mu-mm1 autoscaler never asks for more than the cluster can host", "[autoscaling]") {
  mu_mm1 a;
  function_metrics m;
  m.service_time_s = 0.1;
  m.slo_s = 1;
  m.cpu_per_instance = 2;
  m.arrival_rate = 1000;
  m.queue_length = 100000;
  scaling_snapshot s = one(2, m);
  s.cluster_cpu = 10;
  std::vector<scaling_decision> out;
  a.decide(s, out);
  CHECK(out[0].instances == 5); // 10 cores / 2 per instance
  s.cluster_cpu = 0;            // unbounded
  a.decide(s, out);
  CHECK(out[0].instances > 1000);
}

TEST_CASE("Mu autoscaler: predicted rate x confidence ratio, queue drain, delayed scale-down",
          "[autoscaling]") {
  mu_options o;
  o.predictor.epsilon = 0;
  mu a(o);
  function_metrics m;
  m.service_time_s = 0.1;
  m.slo_s = 1.0;
  // 50 req/s x 0.1 s = 5 busy servers at a confidence ratio of 1; 80 % confidence: 1.25 x.
  CHECK(a.confidence_ratio(1.0) == Approx(1));
  CHECK(a.confidence_ratio(0.8) == Approx(1.25));
  CHECK(a.confidence_ratio(0.1) == Approx(2)); // max_confidence_ratio
  CHECK(a.instances_for(m, 50, 0, 1.0) == 5);
  CHECK(a.instances_for(m, 50, 0, 1.25) == 7); // 6.25
  // 90 queued drain within the SLO's slack (0.9 s) but no faster than a cold start (2 s):
  // +45 req/s -> 95 x 0.1 = 9.5 -> 10.
  CHECK(a.instances_for(m, 50, 90, 1.0) == 10);
  m.instance_concurrency = 4; // four requests at once per instance: a quarter of the instances
  CHECK(a.instances_for(m, 50, 90, 1.0) == 3);
  m.instance_concurrency = 1;

  // A steady rate: every regression predicts it exactly, the confidence goes to 1 and the count
  // to exactly the busy servers; a rate alternating 40/60 is predicted worse: a larger ratio.
  std::vector<scaling_decision> out;
  double t = 0;
  for (int i = 0; i < 30; ++i) {
    t += 2;
    m.arrival_rate = 50;
    m.ready_instances = 5;
    m.concurrency = 5;
    a.decide(one(t, m), out);
  }
  CHECK(a.predicted_rate(0) == Approx(50));
  CHECK(a.confidence_ratio_of(0) == Approx(1));
  CHECK(out[0].instances == 5);
  mu noisy(o);
  for (int i = 0; i < 30; ++i) {
    m.arrival_rate = i % 2 ? 40 : 60;
    noisy.decide(one(2.0 * (i + 1), m), out);
  }
  CHECK(noisy.confidence_ratio_of(0) > 1.05);
  CHECK(out[0].instances > 5);

  // The load falls to 8 req/s: 1 instance, but only once that has held for 30 s (the last need
  // of 5 was at drop - 2).
  m.ready_instances = 5;
  const double drop = t + 2;
  for (t = drop; t < drop + 28; t += 2) {
    m.arrival_rate = 8;
    a.decide(one(t, m), out);
    CHECK(out[0].instances == 5);
  }
  for (int i = 0; i < 10; ++i, t += 2)
    a.decide(one(t, m), out);
  CHECK(out[0].instances == 1);
}

TEST_CASE("Mu autoscaler grows only into free capacity, not the whole cluster", "[autoscaling]") {
  mu a;
  function_metrics m;
  m.service_time_s = 0.1;
  m.slo_s = 1;
  m.cpu_per_instance = 2;
  m.memory_per_instance_mb = 1024;
  m.ready_instances = 3;
  m.arrival_rate = 1000;
  m.queue_length = 100000;
  scaling_snapshot s = one(2, m);
  s.cluster_cpu = 100; // the whole cluster could host 50 such instances ...
  s.free_cpu = 4;      // ... but only 4 cores are not reserved: 2 more
  s.free_memory_mb = 1e6;
  std::vector<scaling_decision> out;
  a.decide(s, out);
  CHECK(out[0].instances == 5);
  s.free_memory_mb = 1024; // memory binds first: 1 more
  a.decide(s, out);
  CHECK(out[0].instances == 4);
  s.free_cpu = 0; // nothing free: keep what it has, never less because of the cap
  a.decide(s, out);
  CHECK(out[0].instances == 3);
  s.free_cpu = s.free_memory_mb = -1; // free capacity not reported: the cluster bounds it
  a.decide(s, out);
  CHECK(out[0].instances == 50);
}

TEST_CASE("KPA: containerConcurrency above 100 is the target, annotations are capped by it",
          "[autoscaling]") {
  function_metrics m;
  m.instance_concurrency = 500;
  CHECK(kpa().total_per_instance(m) == 500); // Knative: containerConcurrency, not min(100, cc)
  CHECK(kpa().target_per_instance(m) == Approx(350));
  m.instance_concurrency = 0; // unlimited: container-concurrency-target-default
  CHECK(kpa().total_per_instance(m) == 100);
  kpa_options o;
  o.target_concurrency = 1000; // the target annotation, never above containerConcurrency
  m.instance_concurrency = 500;
  CHECK(kpa(o).total_per_instance(m) == 500);
  o.target_concurrency = 50;
  CHECK(kpa(o).total_per_instance(m) == 50);
  m.instance_concurrency = 0;
  CHECK(kpa(o).total_per_instance(m) == 50);
  // 700 requests in flight at cc 500: 2 instances (not 10, as with a target capped at 100).
  kpa k;
  m.instance_concurrency = 500;
  m.ready_instances = 2;
  m.concurrency = 700;
  uint32_t want = 0;
  for (double t = 2; t <= 60; t += 2)
    want = decide_one(k, t, m);
  CHECK(want == 2);
}

TEST_CASE("KPA: concurrency averaged in one-second buckets over its windows", "[autoscaling]") {
  kpa k;
  function_metrics m;
  m.instance_concurrency = 10; // target 7
  m.ready_instances = 1;
  // Irregular ticks (as live): 1.5 s at 2, then 0.5 s at 20, then 2 s at 0. The panic window
  // (6 s) sees the time average over the seconds seen so far: (1.5 x 2 + 0.5 x 20) / 4 s.
  std::vector<scaling_decision> out;
  m.concurrency = 2;
  k.decide(one(1.5, m, 1.5), out);
  m.concurrency = 20;
  k.decide(one(2.0, m, 0.5), out);
  CHECK(k.panic_value(0) == Approx((1.5 * 2 + 0.5 * 20) / 2));
  m.concurrency = 0;
  k.decide(one(4.0, m, 2.0), out);
  CHECK(k.panic_value(0) == Approx((1.5 * 2 + 0.5 * 20) / 4));
  CHECK(k.stable_value(0) == Approx((1.5 * 2 + 0.5 * 20) / 4));
  // Ten seconds later the panic window has left the burst behind, the stable window has not.
  for (double t = 6; t <= 14; t += 2)
    k.decide(one(t, m), out);
  CHECK(k.panic_value(0) == 0);
  CHECK(k.stable_value(0) == Approx(13.0 / 14));
}

TEST_CASE("KPA: target burst capacity puts the activator in the path", "[autoscaling]") {
  function_metrics m;
  m.instance_concurrency = 1;
  m.ready_instances = 3;
  m.concurrency = 1;
  std::vector<scaling_decision> out;
  kpa k; // TBC 211: 3 instances x 1 - 211 - 1 < 0: through the activator
  k.decide(one(2, m), out);
  CHECK(out[0].via_activator);
  m.instance_concurrency = 100; // 300 - 211 - 1 = 88 >= 0: straight to the instances
  kpa k2;
  k2.decide(one(2, m), out);
  CHECK_FALSE(out[0].via_activator);
  kpa_options o;
  o.target_burst_capacity = 0; // never
  m.instance_concurrency = 1;
  kpa k3(o);
  k3.decide(one(2, m), out);
  CHECK_FALSE(out[0].via_activator);
  o.target_burst_capacity = -1; // always
  m.instance_concurrency = 100;
  kpa k4(o);
  k4.decide(one(2, m), out);
  CHECK(out[0].via_activator);
}

TEST_CASE("autoscalers are created by name with checked parameters", "[autoscaling]") {
  autoscaler_registry r;
  register_all(r);
  CHECK(r.names() == std::vector<std::string>{"fixed", "kpa", "lass", "mu", "mu-mm1"});
  auto mm1 = r.create("mu-mm1", {{"min_utilization", "0.6"}});
  REQUIRE(mm1);
  CHECK((*mm1)->name() == "mu-mm1");
  REQUIRE(r.create("mu", {{"max_confidence_ratio", "1.5"}}));
  REQUIRE_FALSE(r.create("mu", {{"max_confidence_ratio", "0.5"}}));
  REQUIRE(r.create("kpa", {{"target_burst_capacity", "-1"}}));
  auto k = r.create("kpa", {{"target_concurrency", "10"}, {"panic_threshold", "3"}});
  REQUIRE(k);
  CHECK((*k)->name() == "kpa");
  auto bad = r.create("kpa", {{"target_utilization", "1.5"}});
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.err().message, Catch::Contains("target_utilization"));
  auto typo = r.create("fixed", {{"instance", "3"}});
  REQUIRE_FALSE(typo);
  CHECK_THAT(typo.err().message, Catch::Contains("has no parameter 'instance' (it has: instances)"));
  auto f = r.create("fixed", {{"instances", "3"}});
  REQUIRE(f);
  std::vector<scaling_decision> out;
  (*f)->decide(one(0, {}), out);
  CHECK(out[0].instances == 3);
}
