#include "policies/prediction/bandit.hpp"
#include "policies/prediction/last_value.hpp"
#include "policies/prediction/linear_regression.hpp"
#include "policies/prediction/rate_predictor.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace spry::policies;
using namespace spry::policies::prediction;

TEST_CASE("linear regression extrapolates the line through its window", "[prediction]") {
  linear_regression lr(3);
  CHECK(lr.predict(2) == 0); // nothing observed yet
  lr.observe(0, 10);
  CHECK(lr.predict(2) == Approx(10)); // one point: a constant
  lr.observe(2, 14);
  CHECK(lr.predict(2) == Approx(18)); // slope 2/s
  lr.observe(4, 12);
  // Points (0,10) (2,14) (4,12): mean t 2, mean y 12, slope = (-2*-2 + 0 + 2*0)/8 = 0.5.
  CHECK(lr.predict(2) == Approx(12 + 0.5 * 4));
  lr.observe(6, 6); // window 3 forgets (0,10): (2,14) (4,12) (6,6): slope -2, mean y 32/3 at t=4
  CHECK(lr.predict(0) == Approx(32.0 / 3 - 2 * 2));
  CHECK(lr.predict(10) == 0); // a falling line never predicts a negative rate
}

TEST_CASE("the bandit switches to the model with the highest recent reward", "[prediction]") {
  bandit_options o;
  o.windows = {2, 16};
  o.epsilon = 0; // no exploration: the choice is exactly the argmin of recent error
  bandit b(o);
  double t = 0;
  // A clean ramp: the short window follows it exactly, the long one too once it has points,
  // but until then... both fit a line through a line: both perfect. Make the ramp bend so the
  // long window lags: slope 1 then slope 5.
  for (int i = 0; i < 20; ++i, t += 2)
    b.observe(t, 100 + 2 * i);
  for (int i = 0; i < 10; ++i, t += 2)
    b.observe(t, 140 + 10 * i);
  CHECK(b.chosen() == 0); // the short window follows the new trend, the long one lags
  CHECK(b.recent_reward(0) > b.recent_reward(1));
  const double ramp_next = b.predict(2);
  CHECK(ramp_next == Approx(140 + 10 * 10)); // the short model's extrapolation

  // Now noise around a level: the 2-point line extrapolates every wiggle, the 16-point line is
  // nearly flat. The bandit must move to the long window.
  for (int i = 0; i < 40; ++i, t += 2)
    b.observe(t, i % 2 ? 230 : 250);
  CHECK(b.chosen() == 1);
  CHECK(b.recent_reward(1) > b.recent_reward(0));
  CHECK(b.predict(2) == Approx(240).margin(3));
}

TEST_CASE("with exploration the bandit still mostly plays the better arm, reproducibly",
          "[prediction]") {
  bandit_options o;
  o.windows = {2, 16};
  o.epsilon = 0.1;
  o.seed = 7;
  auto run = [&] {
    bandit b(o);
    std::map<size_t, int> plays;
    std::vector<size_t> seq;
    for (int i = 0; i < 400; ++i) {
      b.observe(2.0 * i, i % 2 ? 230 : 250);
      if (i >= 30) {
        plays[b.chosen()]++;
        seq.push_back(b.chosen());
      }
    }
    return std::make_pair(plays, seq);
  };
  auto [plays, seq] = run();
  // epsilon 0.1 over 2 arms: the worse arm is played about 5 % of the time.
  CHECK(plays[1] > 330);
  CHECK(plays[0] > 0); // exploration did happen
  CHECK(run().second == seq);
}

TEST_CASE("the bandit's reward is relative accuracy", "[prediction]") {
  CHECK(bandit::reward(100, 100) == 1);
  CHECK(bandit::reward(0, 0) == 1);
  CHECK(bandit::reward(50, 100) == Approx(0.5));
  CHECK(bandit::reward(200, 100) == Approx(0.5));
  CHECK(bandit::reward(10, 0) == 0);
  CHECK(bandit::reward(1010, 1000) == Approx(bandit::reward(1.01, 1)));
}

TEST_CASE("the bandit scores its arms at the horizon they are used for", "[prediction]") {
  // A rate that alternates every tick (2 s): 100, 200, 100, ... The last value (window 1) is
  // always wrong one tick ahead but always right two ticks ahead; the mean of two (a flat line
  // through the last two points... window 2 extrapolates the swing) is worse at two ticks.
  auto play = [](double horizon) {
    bandit_options o;
    o.windows = {1, 2};
    o.epsilon = 0;
    o.horizon_s = horizon;
    bandit b(o);
    for (int i = 0; i < 40; ++i)
      b.observe(2.0 * i, i % 2 ? 200 : 100);
    return b;
  };
  const bandit at4 = play(4);
  CHECK(at4.chosen() == 0);
  CHECK(at4.recent_reward(0) == Approx(1));
  CHECK(at4.scored() == 38); // the predictions for t = 4 .. 78
  CHECK(at4.confidence() == Approx(1));
  const bandit next = play(0); // one observation ahead: the last value is never right
  CHECK(next.recent_reward(0) == Approx(0.5));
  CHECK(next.recent_reward(1) < 0.5);
  CHECK(next.scored() == 39);
}

TEST_CASE("rate predictors are created by name with checked parameters", "[prediction]") {
  rate_predictor_registry r;
  register_all(r);
  CHECK(r.names() == std::vector<std::string>{"last_value", "linear_regression", "mu"});
  auto lv = r.create("last_value");
  REQUIRE(lv);
  (*lv)->observe(0, 3);
  CHECK((*lv)->predict(10) == 3);
  auto mu = r.create("mu", {{"windows", "1,4"}, {"epsilon", "0"}});
  REQUIRE(mu);
  CHECK(static_cast<bandit&>(**mu).arms() == 2);
  auto bad = r.create("mu", {{"windows", "1,x"}});
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.err().message, Catch::Contains("windows"));
  auto typo = r.create("linear_regression", {{"windwo", "3"}});
  REQUIRE_FALSE(typo);
  CHECK_THAT(typo.err().message, Catch::Contains("no parameter 'windwo' (it has: window)"));
  auto unknown = r.create("arima");
  REQUIRE_FALSE(unknown);
  CHECK_THAT(unknown.err().message, Catch::Contains("available: last_value, linear_regression, mu"));
}
