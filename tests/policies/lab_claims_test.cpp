// Confidence intervals over seeds and the verdicts drawn from them (policies/lab/confidence.hpp,
// claims.hpp), on hand-built runs whose intervals are computed here by hand.
#include "policies/lab/claims.hpp"
#include "policies/lab/confidence.hpp"
#include "policies/lab/experiment.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace spry::policies;
using namespace spry::policies::lab;

namespace {

// Runs of two policies on one workload: `p99_ms` per seed.
std::vector<run_record> runs_of(const std::vector<double>& policy,
                                const std::vector<double>& baseline) {
  std::vector<run_record> out;
  for (size_t k = 0; k < policy.size(); ++k) {
    run_record r{"new", "w", k + 1, {}, 0};
    r.result.p99_ms = policy[k];
    r.result.slo_violation_rate = 0.1;
    out.push_back(r);
  }
  for (size_t k = 0; k < baseline.size(); ++k) {
    run_record r{"old", "w", k + 1, {}, 0};
    r.result.p99_ms = baseline[k];
    r.result.slo_violation_rate = 0.3;
    out.push_back(r);
  }
  return out;
}

experiment one_claim(double published_change, bool has_size = true) {
  experiment e;
  workload_spec w;
  w.name = "w";
  e.workloads.push_back(w);
  claim_spec c;
  c.name = "c";
  c.metric = "p99_ms";
  c.policy = "new";
  c.baseline = "old";
  c.published_change = published_change;
  c.has_published_size = has_size;
  e.claims.push_back(c);
  return e;
}

} // namespace

TEST_CASE("Student t quantiles and intervals match the tables", "[lab]") {
  // Two-sided 95 %: t(0.975, dof) from any statistics table.
  CHECK(t_quantile(0.975, 1) == Approx(12.7062).epsilon(1e-4));
  CHECK(t_quantile(0.975, 9) == Approx(2.26216).epsilon(1e-4));
  CHECK(t_quantile(0.975, 29) == Approx(2.04523).epsilon(1e-4));

  // 1..10: mean 5.5, sd sqrt(55/6), half-width t(0.975, 9) sd / sqrt(10).
  std::vector<double> x;
  for (int k = 1; k <= 10; ++k)
    x.push_back(k);
  const interval i = t_interval(x);
  CHECK(i.n == 10);
  CHECK(i.mean == Approx(5.5));
  CHECK(i.sd == Approx(std::sqrt(55.0 / 6)));
  CHECK(i.half_width == Approx(2.26216 * std::sqrt(55.0 / 6) / std::sqrt(10.0)).epsilon(1e-4));
  CHECK(i.lo() == Approx(5.5 - i.half_width));

  const interval one = t_interval({3});
  CHECK_FALSE(one.defined());
  CHECK(one.mean == 3);
  CHECK(t_interval({}).n == 0);
}

TEST_CASE("verdicts follow the interval of the difference, not the mean", "[lab]") {
  interval d;
  d.n = 10;
  d.mean = -2;
  d.half_width = 1; // [-3, -1]: excludes zero below
  CHECK(direction_verdict(d, -1) == "holds");
  CHECK(direction_verdict(d, +1) == "does not hold");
  d.half_width = 2.5; // [-4.5, 0.5]: contains zero
  CHECK(direction_verdict(d, -1) == "inconclusive");
  CHECK(direction_verdict(d, +1) == "inconclusive");
  d.half_width = 0; // every seed gave exactly -2
  CHECK(direction_verdict(d, -1) == "holds");
  d.mean = 0; // every seed identical: no change
  CHECK(direction_verdict(d, -1) == "inconclusive");
  d.mean = -2;
  d.n = 1; // one seed: no spread to judge
  CHECK(direction_verdict(d, -1) == "inconclusive");
}

TEST_CASE("claims pair seeds: a consistent gain under a large seed-to-seed spread holds", "[lab]") {
  // The baseline varies a lot from seed to seed (10..100); the policy is 5 % lower on every
  // seed. Unpaired intervals overlap completely; the paired difference is -5 % exactly.
  std::vector<double> base, pol;
  for (int k = 0; k < 10; ++k) {
    base.push_back(10.0 + 10 * k);
    pol.push_back(0.95 * (10.0 + 10 * k));
  }
  const auto e = one_claim(-0.62);
  auto out = evaluate_claims(e, runs_of(pol, base));
  REQUIRE(out.size() == 1);
  const auto& c = out[0];
  CHECK(c.difference.n == 10);
  CHECK(c.policy.hi() > c.baseline.lo()); // unpaired, the two would not separate
  CHECK(c.verdict == "holds");
  CHECK(c.measured_change == Approx(-0.05));
  CHECK(c.change_hi < 0);
  CHECK(c.published_size == "larger than measured"); // -62 % published, about -5 % measured
  CHECK_FALSE(c.under_sampled);
  CHECK(c.policy_slo_attainment.mean == Approx(0.9));
  CHECK(c.baseline_slo_attainment.mean == Approx(0.7));

  // The same means with the gain on half the seeds and a loss on the others: inconclusive.
  std::vector<double> mixed = base;
  for (size_t k = 0; k < mixed.size(); ++k)
    mixed[k] *= k % 2 ? 0.8 : 1.1;
  auto m = evaluate_claims(e, runs_of(mixed, base));
  REQUIRE(m.size() == 1);
  CHECK(m[0].verdict == "inconclusive");

  // The opposite direction on every seed.
  std::vector<double> worse = base;
  for (auto& v : worse)
    v *= 1.2;
  auto w = evaluate_claims(e, runs_of(worse, base));
  CHECK(w[0].verdict == "does not hold");
  CHECK(w[0].published_size == "larger than measured");

  // A direction-only claim has no published size to compare.
  auto d = evaluate_claims(one_claim(-1, false), runs_of(pol, base));
  CHECK(d[0].verdict == "holds");
  CHECK(d[0].published_size == "no figure published");
}

TEST_CASE("claims use only the seeds both policies ran, and flag too few", "[lab]") {
  // Seeds 1..3 for the policy, 1..5 for the baseline: three pairs.
  auto out = evaluate_claims(one_claim(-0.1), runs_of({9, 18, 27}, {10, 20, 30, 1000, 2000}));
  REQUIRE(out.size() == 1);
  CHECK(out[0].difference.n == 3);
  CHECK(out[0].baseline.mean == Approx(20));
  CHECK(out[0].measured_change == Approx(-0.1));
  CHECK(out[0].under_sampled);
  // A baseline mean of zero leaves the relative change undefined, the verdict still stands.
  auto z = evaluate_claims(one_claim(0.1), runs_of({1, 1.1, 0.9}, {0, 0, 0}));
  CHECK(std::isnan(z[0].measured_change));
  CHECK(z[0].verdict == "holds");
}

TEST_CASE("a claim gives a published change or a direction, not both", "[lab]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("spry-lab-claims-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  policy_registries r;
  register_all(r);
  auto read = [&](const std::string& claim) {
    const std::string file = (dir / "e.yaml").string();
    std::ofstream(file) << "name: e\ncluster:\n  nodes:\n    - { count: 1, cpu: 4 }\n"
                           "policies:\n  - { name: a }\n  - { name: b }\n"
                           "workloads:\n  - { name: w, kind: poisson }\n"
                           "claims:\n  - { name: c, metric: p99_ms, policy: a, baseline: b, "
                        << claim << " }\n";
    return read_experiment(file, r);
  };
  auto ok = read("direction: increase");
  REQUIRE(ok);
  CHECK(ok->claims[0].published_change > 0);
  CHECK_FALSE(ok->claims[0].has_published_size);
  auto sized = read("published_change: -0.62");
  REQUIRE(sized);
  CHECK(sized->claims[0].has_published_size);
  auto both = read("published_change: 0.1, direction: increase");
  REQUIRE_FALSE(both);
  CHECK_THAT(both.err().message, Catch::Contains("exactly one of"));
  auto neither = read("published: text");
  REQUIRE_FALSE(neither);
  auto sideways = read("direction: sideways");
  REQUIRE_FALSE(sideways);
  CHECK_THAT(sideways.err().message, Catch::Contains("neither increase nor decrease"));
  auto zero = read("published_change: 0");
  REQUIRE_FALSE(zero);
  fs::remove_all(dir);
}
